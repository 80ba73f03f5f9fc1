"""Posts people write through the bot: a GM's narration, and a player's drafted post."""

from __future__ import annotations

from dataclasses import dataclass

from bot.channel.addressing import Post
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.errors import UserError
from bot.names import speaker_name
from bot.store import Character, Scene

NARRATION_MAX_CHARS = 4000
HINT_MAX_CHARS = 300


@dataclass(frozen=True)
class Draft:
    """A post the model wrote for a player's character; only that player sees it."""

    speaker: str
    text: str


class AuthoredPosts:
    """`/narrate` and `/suggest`: posted under a name through the webhook, then a round."""

    def __init__(self, deps: ChannelDeps) -> None:
        self.turns = deps.stores.turns
        self.views = deps.views
        self.director = deps.director
        self.access = deps.access
        self.sessions = deps.sessions
        self.publisher = deps.publisher
        self.play = deps.play
        self.narrator_name = speaker_name(deps.settings.narrator_name, fallback="Narrator")

    async def narrate(self, actor: Actor, text: str) -> Reply:
        """A GM's scene narration, posted under the narrator's name and stored as narration."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        content = _checked(text, NARRATION_MAX_CHARS, "Narration")
        await self._post(scene, actor, "narration", self.narrator_name, None, content)
        return Reply("Narrated.")

    async def draft(self, actor: Actor, hint: str | None = None, attempt: int = 0) -> Draft:
        """The model's draft of the caller's character's next post (nothing is stored)."""
        scene = await self.access.require_scene(actor)
        character = await self._character(scene, actor)
        direction = _checked(hint, HINT_MAX_CHARS, "The hint") if hint and hint.strip() else None
        self.access.cooldown(actor, "suggest")
        session = self.sessions.get(scene.channel_id)
        # One generation per channel at a time, and a halt (scene end, clear) stops a draft too.
        async with session.lock:
            view = await self.views.view(scene)
            with session.cancellable() as cancel:
                text = await self.director.suggest(
                    view, character.name, direction, attempt=attempt, cancel=cancel
                )
        return Draft(character.name, text)

    async def post_draft(self, actor: Actor, text: str) -> Reply:
        """Post a draft as the caller's character; it then counts as if they had typed it."""
        scene = await self.access.require_scene(actor)
        character = await self._character(scene, actor)
        content = _checked(text, NARRATION_MAX_CHARS, "The post")
        await self._post(scene, actor, "user", character.name, character, content)
        return Reply(f"Posted as {character.name}.")

    async def _character(self, scene: Scene, actor: Actor) -> Character:
        character = await self.play.character_of(scene, actor.user_id)
        if character is None:
            raise UserError("You have no character in this scene: create one or /character use.")
        return character

    async def _post(
        self,
        scene: Scene,
        actor: Actor,
        role: str,
        speaker: str,
        character: Character | None,
        content: str,
    ) -> None:
        """Store as pending, post whole (or take back), then ask for the round it calls for."""
        turn = await self.turns.append(
            scene.id,
            role=role,
            speaker=speaker,
            content=content,
            character_id=character.id if character else None,
            author_id=actor.user_id,
            pending=True,
        )
        await self.publisher.post(scene, turn)
        # A player's post through the bot acts for its character (table mode counts it).
        posted = Post(content, speaker, actor.user_id)
        trigger = await self.play.trigger_for(scene, posted, human=True)
        if trigger is not None:
            self.sessions.trigger(scene.channel_id, trigger)


def _checked(text: str | None, limit: int, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise UserError(f"{what} is empty.")
    if len(cleaned) > limit:
        raise UserError(f"{what} is limited to {limit:,} characters.")
    return cleaned
