"""The channel loop: player messages become turns and start NPC rounds as the reply mode says."""

from __future__ import annotations

from collections.abc import Sequence

from bot.prompts import is_ooc
from bot.store import Scene, Stores
from bot.tavern.access import Access
from bot.tavern.common import Actor, IncomingMessage, Poster, Reply, UserError
from bot.tavern.sessions import ChannelSessions, Trigger
from bot.tavern.speakers import player_speaker
from bot.tavern.text import mentioned_name


class PlayService:
    """Stores what players write, follows their edits and deletes, and asks for rounds."""

    def __init__(
        self,
        stores: Stores,
        access: Access,
        sessions: ChannelSessions,
        poster: Poster,
        *,
        quiet_seconds: float,
    ) -> None:
        self.scenes = stores.scenes
        self.turns = stores.turns
        self.characters = stores.characters
        self.access = access
        self.sessions = sessions
        self.poster = poster
        self.quiet_seconds = quiet_seconds

    async def on_message(self, message: IncomingMessage) -> None:
        """Store a player's message as a turn and schedule a round as the reply mode says."""
        if message.webhook_id is not None and self.poster.owns_webhook(message.webhook_id):
            return
        if message.author_is_bot and message.webhook_id is None:
            return
        content = message.content.strip()
        if not content:
            return
        scene = await self.scenes.by_channel(message.channel_id)
        if scene is None or await self.turns.by_message_id(message.message_id) is not None:
            return
        speaker, character_id, author_id = await self._speaker(scene, message)
        await self.turns.append(
            scene.id,
            role="user",
            speaker=speaker,
            content=content,
            character_id=character_id,
            author_id=author_id,
            message_ids=[message.message_id],
        )
        session = self.sessions.get(scene.channel_id)
        if message.webhook_id is None:
            session.human_spoke = True
        elif not session.human_spoke:
            return
        if is_ooc(content) or scene.reply_mode == "manual":
            return
        cast = await self.scenes.cast(scene.id)
        named = mentioned_name(content, [c.name for c in cast])
        if scene.reply_mode == "mention" and named is None:
            return
        delay = 0.0 if named else self.quiet_seconds
        self.sessions.trigger(scene.channel_id, Trigger(forced=named, delay=delay))

    async def _speaker(
        self, scene: Scene, message: IncomingMessage
    ) -> tuple[str, int | None, int | None]:
        """Bound character, else default character (then bound), else the display name."""
        if message.webhook_id is not None:  # PluralKit/Tupperbox proxies post under the name
            return await self._named(message), None, None
        bound = await self.scenes.bound_character(scene.id, message.author_id)
        if bound is None:
            bound = await self.scenes.default_character(message.guild_id, message.author_id)
            if bound is not None:
                await self.scenes.bind_player(scene.id, message.author_id, bound.id)
        if bound is not None:
            return bound.name, bound.id, message.author_id
        return await self._named(message), None, message.author_id

    async def _named(self, message: IncomingMessage) -> str:
        """The display or proxy name under the name rule."""
        return await player_speaker(self.characters, message.guild_id, message.author_name)

    async def on_edit(self, message_id: int, content: str) -> None:
        """A player edited a message: update its turn."""
        turn = await self.turns.by_message_id(message_id)
        if turn is not None and turn.role == "user" and content.strip():
            await self.turns.edit(turn.id, content.strip())

    async def on_delete(self, message_ids: Sequence[int]) -> None:
        """Messages were deleted: a turn leaves the history when none of its messages is left."""
        for message_id in message_ids:
            turn = await self.turns.by_message_id(message_id)
            if turn is None or turn.deleted:
                continue
            # A swipe that shortens a turn deletes its extra parts; the turn itself stays.
            remaining = [i for i in turn.message_ids if i != message_id]
            if remaining:
                await self.turns.set_message_ids(turn.id, remaining)
            else:
                await self.turns.mark_deleted(turn.id)

    async def reply(self, actor: Actor, as_name: str | None) -> Reply:
        """`/reply [as]`: run a round now."""
        scene = await self.access.require_scene(actor)
        await self.access.require_participant(actor, scene)
        if as_name is not None and not any(
            c.name.casefold() == as_name.casefold() for c in await self.scenes.cast(scene.id)
        ):
            raise UserError(f"{as_name} is not in this scene's cast.")
        self.access.cooldown(actor, "reply")
        self.sessions.trigger(scene.channel_id, Trigger(as_name))
        who = as_name or "The NPCs"
        return Reply(f"{who} will answer shortly.")
