"""`/whisper`, `/npc tell`, `/scene who`, `/scene leave` and `/scene enter`: who knows what."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.director import DirectorError, GeneratedTurn, RoundHooks, StoredTurn
from bot.domain import CancelToken
from bot.knowledge import wording
from bot.knowledge.rules import (
    TELL_MAX_CHARS,
    WHISPER_MAX_CHARS,
    KnowledgeError,
    checked_text,
)
from bot.store import Character, Scene

# The speaker of a tell: what the GM told one NPC reads as the GM's aside in its prompt.
TELL_SPEAKER = "GM"
CHOICES_MAX = 25  # Discord's autocomplete limit
# Shows the whisper to its author once it is stored, before the answer is generated.
Heard = Callable[[str], Awaitable[None]]
NO_CHARACTER = "You have no character in this scene: create one or /character use."


class KnowledgeCommands:
    """Private words between a player's character and an NPC, a GM's tells, and presence."""

    def __init__(self, deps: ChannelDeps) -> None:
        stores = deps.stores
        self.scenes = stores.scenes
        self.turns = stores.turns
        self.characters = stores.characters
        self.views = deps.views
        self.director = deps.director
        self.access = deps.access
        self.sessions = deps.sessions
        self.publisher = deps.publisher
        self.play = deps.play
        self.gate = deps.gate
        self.mechanics = deps.mechanics

    async def whisper(self, actor: Actor, npc_name: str, text: str, heard: Heard) -> Reply:
        """The player's character says `text` to one NPC alone, and hears its private answer.

        The whisper and its answer are stored (each witnessed by the two of them only) and
        posted nowhere: `heard` shows the whisper, the reply is the answer, both to its author.
        """
        scene = await self.access.require_scene(actor)
        content = checked_text(text, WHISPER_MAX_CHARS, "The whisper")
        character = await self._present_character(scene, actor)
        if npc_name.strip().casefold() == character.name.casefold():
            raise KnowledgeError("You cannot whisper to yourself.")
        npc = await self._cast_member(scene, npc_name)
        self._refuse_while_down()
        self.access.cooldown(actor, "whisper")
        session = self.sessions.get(scene.channel_id)
        if session.chore_cancel is not None:  # a player is waiting: the chore stops at once
            session.chore_cancel.cancel()
        # The channel lock: a public round never runs between the whisper and its answer, and
        # a halt (scene end, clear, pause) reaches the answer as it reaches a round.
        async with session.lock:
            scene = await self.access.require_scene(actor)  # it may have ended meanwhile
            npc = await self._cast_member(scene, npc.name)
            await self.turns.append(
                scene.id,
                role="user",
                speaker=character.name,
                content=content,
                character_id=character.id,
                author_id=actor.user_id,
                kind="whisper",
                audience=[npc.id],
            )
            await heard(wording.whispered(character.name, npc.name, content))
            if scene.paused:
                return Reply(wording.paused(npc.name))
            with session.cancellable() as cancel:
                return Reply(await self._answer(scene, npc, character, cancel))

    async def _answer(
        self, scene: Scene, npc: Character, listener: Character, cancel: CancelToken
    ) -> str:
        """A one-turn round of `npc` that only it and `listener` witness, stored unposted."""
        view = await self.views.view(scene)
        member = next((m for m in view.npcs if m.character_id == npc.id), None)
        if member is None:  # cannot happen under the lock; said plainly if it ever does
            raise KnowledgeError(f"{npc.name} is not in this scene's cast.")
        view = replace(view, max_replies=1)
        if view.mechanics:
            view = replace(view, resolver=await self.mechanics.resolver(scene.id))

        async def generated(turn: GeneratedTurn) -> None:
            try:  # its rolls and changes are stored with it while it is pending, as in a round
                await self.mechanics.record(scene.id, turn)
            except BaseException:
                await self.publisher.withdraw(scene.channel_id, turn.turn.id, ())
                raise

        async def stored(turn: StoredTurn) -> None:
            if cancel.cancelled:  # halted before it was shown: nobody heard it
                await self.publisher.withdraw(scene.channel_id, turn.id, ())
            else:  # no webhook post: it joins the history as it is shown to the whisperer
                await self.turns.mark_posted(turn.id)

        hooks = RoundHooks(stored=stored, generated=generated)
        try:
            result = await self.director.run_round(
                view, forced=member.name, hooks=hooks, cancel=cancel, audience=[listener.id]
            )
        except DirectorError as exc:
            return f"{member.name} did not answer: {exc}"
        if cancel.cancelled or not result.turns:
            if result.ended == "empty" and result.notice:
                return result.notice  # the model had nothing to say, twice
            return wording.stopped(member.name)
        return wording.answered(member.name, result.turns[-1].content)

    async def tell(self, actor: Actor, npc_name: str, text: str) -> Reply:
        """`/npc tell`: something only this NPC knows from now on (a GM's secret briefing)."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        content = checked_text(text, TELL_MAX_CHARS, "The tell")
        npc = await self.characters.find_npc(actor.guild_id, npc_name)
        if npc is None:
            raise KnowledgeError(f"No NPC named {wording.typed_name(npc_name)}.")
        self._refuse_while_down()
        await self.turns.append(
            scene.id,
            role="narration",
            speaker=TELL_SPEAKER,
            content=content,
            author_id=actor.user_id,
            kind="tell",
            audience=[npc.id],
        )
        in_cast = any(c.id == npc.id for c in await self.scenes.cast(scene.id))
        return Reply(wording.told(npc.name, in_cast))

    async def who(self, actor: Actor) -> Reply:
        """`/scene who`: the NPCs of the cast, and the players here and away."""
        scene = await self.access.require_scene(actor)
        cast = [(c.name, muted) for c, muted in await self.scenes.cast_muted(scene.id)]
        presence = await self.scenes.player_presence(scene.id)
        here = [c.name for _, c, present in presence if present]
        away = [c.name for _, c, present in presence if not present]
        return Reply(wording.who(cast, here, away))

    async def set_present(self, actor: Actor, present: bool) -> Reply:
        """`/scene enter` and `/scene leave`: while away, a character witnesses nothing."""
        scene = await self.access.require_scene(actor)
        character = await self.scenes.bound_character(scene.id, actor.user_id)
        changed = None
        if character is not None:
            changed = await self.scenes.set_present(scene.id, actor.user_id, present)
        if character is None or changed is None:
            raise KnowledgeError(NO_CHARACTER)
        if not changed:
            return Reply(wording.already(character.name, present))
        said = wording.entered if present else wording.left
        return Reply(said(character.name), ephemeral=False)

    async def cast_names(self, actor: Actor, prefix: str) -> list[str]:
        """Autocomplete: the names of this channel's cast that start with `prefix`."""
        scene = await self.scenes.by_channel(actor.channel_id)
        if scene is None:
            return []
        folded = prefix.casefold()
        names = [c.name for c in await self.scenes.cast(scene.id)]
        return [n for n in names if n.casefold().startswith(folded)][:CHOICES_MAX]

    async def npc_names(self, actor: Actor, prefix: str) -> list[str]:
        """Autocomplete: the server's NPC names that start with `prefix` (a tell may go to any)."""
        return await self.characters.names(actor.guild_id, "npc", prefix=prefix)

    async def _present_character(self, scene: Scene, actor: Actor) -> Character:
        """The actor's character in the scene, refused when they have none or it is away."""
        character = await self.play.character_of(scene, actor.user_id)
        if character is None:
            raise KnowledgeError(NO_CHARACTER)
        presence = await self.scenes.player_presence(scene.id)
        if any(user == actor.user_id and not here for user, _, here in presence):
            raise KnowledgeError(f"{character.name} is away: /scene enter first.")
        return character

    async def _cast_member(self, scene: Scene, name: str) -> Character:
        folded = name.strip().casefold()
        for npc in await self.scenes.cast(scene.id):
            if npc.name.casefold() == folded:
                return npc
        raise KnowledgeError(f"{wording.typed_name(name)} is not in this scene's cast.")

    def _refuse_while_down(self) -> None:
        if self.gate.down:
            raise KnowledgeError("The database is not taking writes; try again once it is back.")


def build(deps: ChannelDeps) -> KnowledgeCommands:
    """The knowledge feature over the shared channel parts."""
    return KnowledgeCommands(deps)
