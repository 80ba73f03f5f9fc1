"""The channel loop: player messages become turns and start NPC rounds as the reply mode says."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bot.channel.access import Access
from bot.channel.addressing import Addressing, Post
from bot.channel.health import WriteGate
from bot.channel.ports import Actor, IncomingMessage, Poster, Reply
from bot.channel.sessions import ChannelSessions, Trigger
from bot.channel.speakers import player_speaker
from bot.channel.table import TableRounds
from bot.errors import UserError
from bot.prompts import is_ooc
from bot.store import (
    Character,
    DuplicateMessageError,
    NotFoundError,
    Scene,
    Stores,
    Turn,
    failure_reason,
)

STORE_RETRY_DELAYS = (0.5, 1.0, 2.0)
T = TypeVar("T")
log = logging.getLogger(__name__)


class PlayService:
    """Stores what players write, follows their edits and deletes, and asks for rounds."""

    def __init__(
        self,
        stores: Stores,
        access: Access,
        sessions: ChannelSessions,
        poster: Poster,
        gate: WriteGate,
        table: TableRounds,
        *,
        quiet_seconds: float,
        retry_delays: Sequence[float] = STORE_RETRY_DELAYS,
        dice_bots: frozenset[int] = frozenset(),
    ) -> None:
        self.scenes = stores.scenes
        self.turns = stores.turns
        self.characters = stores.characters
        self.access = access
        self.sessions = sessions
        self.poster = poster
        self.gate = gate
        self.table = table
        self.retry_delays = tuple(retry_delays)
        self.dice_bots = dice_bots
        self.addressing = Addressing(stores, quiet_seconds)

    async def on_message(self, message: IncomingMessage) -> None:
        """Store a player's message as a turn and schedule a round as the reply mode says."""
        if not self._from_a_player(message):
            return
        try:
            scene = await self._retrying(lambda: self.scenes.by_channel(message.channel_id))
        except Exception as exc:
            # No scene known: a channel this run has served is told, others only see the mark.
            await self._unsaved(message, exc, tell=message.channel_id in self.sessions)
            return
        if scene is None:
            return
        async with self.sessions.get(scene.channel_id).intake:
            trigger = await self.take(scene, message)
        if trigger is not None:
            self.sessions.trigger(scene.channel_id, trigger)

    def _from_a_player(self, message: IncomingMessage) -> bool:
        """A human's or a proxy's post with text; never the bot's own webhook or another bot."""
        if message.webhook_id is not None and self.poster.owns_webhook(message.webhook_id):
            return False
        if message.author_is_bot and (message.webhook_id is None or message.command_reply):
            return self._from_a_dice_bot(message)
        return bool(message.content.strip())

    def _from_a_dice_bot(self, message: IncomingMessage) -> bool:
        """A roll from a dice bot the admin listed; every other bot stays ignored."""
        return message.author_id in self.dice_bots and bool(message.content.strip())

    async def take(
        self, scene: Scene, message: IncomingMessage, *, reading_back: bool = False
    ) -> Trigger | None:
        """Store a message of the scene's channel (intake held), or mark it; the round it asks.

        While the database refuses writes, or older posts of the channel wait for it, the post
        is kept for the read-back that stores them in order (`reading_back`: that one).
        """
        if not self._from_a_player(message):
            return None
        if self.gate.keeps_posts(scene.channel_id, reading_back=reading_back):
            log.warning(
                "kept message %s in channel %s until the database takes writes again",
                message.message_id,
                message.channel_id,
            )
            await self._keep(message)
            return None
        try:
            stored = await self._retrying(lambda: self._store(scene, message))
            if stored is None:
                return None
        except (DuplicateMessageError, NotFoundError):
            return None  # stored meanwhile (read back and live at once), or the scene is gone
        except Exception as exc:
            await self._unsaved(message, exc)
            return None
        # A dice bot answers a person's command: its roll is that person acting.
        human = message.webhook_id is None or self._from_a_dice_bot(message)
        post = Post(message.content, stored.speaker, stored.author_id, message.reply_to)
        return await self.trigger_for(scene, post, human=human)

    async def _store(self, scene: Scene, message: IncomingMessage) -> Turn | None:
        """Append the message as a turn; None if it is stored already."""
        if await self.turns.by_message_id(message.message_id) is not None:
            return None
        speaker, character_id, author_id = await self._speaker(scene, message)
        return await self.turns.append(
            scene.id,
            role="user",
            speaker=speaker,
            content=message.content.strip(),
            character_id=character_id,
            author_id=author_id,
            message_ids=[message.message_id],
            kind="roll" if self._from_a_dice_bot(message) else "post",
        )

    async def _retrying(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run a store step again after each delay while it fails in a way waiting may fix."""
        # Once the database is known to refuse writes, the probe does the waiting.
        for delay in () if self.gate.down else self.retry_delays:
            try:
                return await work()
            except (DuplicateMessageError, NotFoundError):
                raise
            except Exception as exc:
                log.warning("storing a message failed (%s); retrying", failure_reason(exc))
                await asyncio.sleep(delay)
        return await work()

    async def _unsaved(
        self, message: IncomingMessage, exc: Exception, *, tell: bool = True
    ) -> None:
        """Mark a post the database would not take; kept to store later if it refuses writes."""
        kept = await self.gate.refused(message.channel_id, exc, tell=tell)
        log.error(
            "could not store message %s in channel %s (%s); %s",
            message.message_id,
            message.channel_id,
            failure_reason(exc),
            "kept it until the database takes writes" if kept else "marked it for its author",
        )
        if kept:
            await self._keep(message)
        else:
            await self._mark(message)

    async def _keep(self, message: IncomingMessage) -> None:
        """Mark a post kept for the read-back (once, however often it is refused)."""
        if self.gate.keep(message.channel_id, message.message_id):
            await self._mark(message)

    async def _mark(self, message: IncomingMessage) -> None:
        try:
            await self.poster.mark_unsaved(message.channel_id, message.message_id)
        except Exception as mark_failed:
            log.error("could not mark message %s either: %s", message.message_id, mark_failed)

    async def trigger_for(self, scene: Scene, post: Post, *, human: bool) -> Trigger | None:
        """The round a stored post asks for, as the reply mode says (proxies need a human first)."""
        content = post.content.strip()
        session = self.sessions.get(scene.channel_id)
        if human:
            session.human_spoke = True
        elif not session.human_spoke:
            return None
        if is_ooc(content) or scene.reply_mode == "manual":
            return None
        if scene.paused and await self._still_paused(scene):
            return None  # stored for /scene resume, which runs the round the posts ask for
        asked = await self.addressing.asked(scene, post)
        if scene.reply_mode == "table":
            return await self.table.acted(scene, post.speaker, asked)
        return asked

    async def _still_paused(self, scene: Scene) -> bool:
        """Read again: `scene` may be from before a /scene resume that missed this post."""
        return (await self.scenes.get(scene.id)).paused

    async def _speaker(
        self, scene: Scene, message: IncomingMessage
    ) -> tuple[str, int | None, int | None]:
        """Bound character, else default character (then bound), else the display name."""
        if message.webhook_id is not None or message.author_is_bot:
            # PluralKit/Tupperbox proxies post under the name; a dice bot under its own
            return await self._named(message), None, None
        bound = await self.character_of(scene, message.author_id)
        if bound is not None:
            return bound.name, bound.id, message.author_id
        return await self._named(message), None, message.author_id

    async def character_of(self, scene: Scene, user_id: int) -> Character | None:
        """The member's character in this scene: bound, else their default (bound from now)."""
        bound = await self.scenes.bound_character(scene.id, user_id)
        if bound is None:
            bound = await self.scenes.default_character(scene.guild_id, user_id)
            if bound is not None:
                await self.scenes.bind_player(scene.id, user_id, bound.id)
        return bound

    async def _named(self, message: IncomingMessage) -> str:
        """The display or proxy name under the name rule."""
        return await self.speaker_for(message.guild_id, message.author_name)

    async def speaker_for(self, guild_id: int, display_name: str) -> str:
        """A name to post under for someone without a character, under the name rule."""
        return await player_speaker(self.characters, guild_id, display_name)

    async def recent(self, scene_id: int, count: int) -> list[Turn]:
        """The scene's newest `count` turns, oldest first (what a resumed front end shows)."""
        return await self.turns.window(scene_id, count)

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
        await self.access.require_player(actor, scene)
        if scene.paused:
            raise UserError("The scene is paused: the NPCs answer again after /scene resume.")
        cast = await self.scenes.cast_muted(scene.id)
        if as_name is not None and not any(
            c.name.casefold() == as_name.casefold() for c, _ in cast
        ):
            raise UserError(f"{as_name} is not in this scene's cast.")
        if as_name is None and cast and all(muted for _, muted in cast):
            raise UserError("Every NPC here is muted: /reply as: makes one of them answer.")
        if self.gate.down:
            raise UserError("The database is not taking writes; the NPCs answer once it is back.")
        self.access.cooldown(actor, "reply")
        self.sessions.trigger(scene.channel_id, Trigger(as_name))
        who = as_name or "The NPCs"
        return Reply(f"{who} will answer shortly.")
