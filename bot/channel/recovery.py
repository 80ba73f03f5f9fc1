"""What a start, a gateway resume or the database's return puts right: turns never posted,
messages never seen or never stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from bot.channel.deps import ChannelDeps
from bot.channel.ports import Poster
from bot.channel.sessions import Trigger
from bot.store import Scene

log = logging.getLogger(__name__)
READ_BACK_LIMIT = 200
DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_at(moment: datetime) -> int:
    """The smallest Discord id a message posted at `moment` can have."""
    return max(0, int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


class Recovery:
    """Takes down turns a crash left unposted and reads back what was posted meanwhile."""

    def __init__(self, deps: ChannelDeps, *, limit: int = READ_BACK_LIMIT) -> None:
        self.stores = deps.stores
        self.play = deps.play
        self.sessions = deps.sessions
        self.publisher = deps.publisher
        self.poster: Poster = deps.poster
        self.gate = deps.gate
        self.limit = limit
        # Set after every read-back pass (tests and admins can wait for it).
        self.caught_up = asyncio.Event()

    async def discard_unposted(self) -> int:
        """Withdraw every turn stored but never posted whole (call before any round runs)."""
        left = await self.stores.turns.pending()
        for turn in left:
            scene = await self.stores.scenes.get(turn.scene_id)
            await self.publisher.withdraw(scene.channel_id, turn.id, turn.message_ids)
        if left:
            log.info("took back %d NPC turns the last run stored but never posted", len(left))
        return len(left)

    async def catch_up(self, guild_ids: Sequence[int]) -> None:
        """Store what players posted in active scene channels while the bot was away."""
        self.caught_up.clear()
        try:
            for scene in await self.stores.scenes.active_in(guild_ids):
                try:
                    async with self.sessions.get(scene.channel_id).intake:
                        trigger = await self._catch_up(scene)
                    if trigger is not None:
                        self.sessions.trigger(scene.channel_id, trigger)
                except Exception:
                    log.warning("could not read back channel %s", scene.channel_id, exc_info=True)
        finally:
            self.caught_up.set()

    async def after_outage(self, channel_id: int) -> None:
        """Once the database writes again: withdraw half-stored turns, store the kept posts in
        order, take their marks off, and run the round the channel was refused."""
        scene = await self.stores.scenes.by_channel(channel_id)
        if scene is None:  # not a scene channel (or no longer): nothing there needed storing
            kept = self.gate.kept(channel_id)
            await self._unmark(channel_id, kept)
            self.gate.forget(channel_id, kept)
            self.gate.waiting_round(channel_id)
            return
        session = self.sessions.get(channel_id)
        async with session.lock:  # a round still running keeps its own pending turn
            for turn in await self.stores.turns.pending(scene.id):
                await self.publisher.withdraw(channel_id, turn.id, turn.message_ids)
        async with session.intake:  # new posts queue behind the kept ones
            kept = self.gate.kept(channel_id)
            trigger = await self._catch_up(scene, kept[0] if kept else None)
            if self.gate.down:  # refused again half-way: the next pass starts over
                return
            self.gate.forget(channel_id, kept)
        await self._unmark(channel_id, [m for m in kept if await self._stored(m)])
        waiting = self.gate.waiting_round(channel_id)
        if waiting is not None:
            trigger = waiting if trigger is None else waiting.merge(trigger)
        if trigger is not None:
            self.sessions.trigger(channel_id, trigger)

    async def _stored(self, message_id: int) -> bool:
        return await self.stores.turns.by_message_id(message_id) is not None

    async def _unmark(self, channel_id: int, message_ids: Sequence[int]) -> None:
        for message_id in message_ids:
            try:
                await self.poster.unmark_unsaved(channel_id, message_id)
            except Exception:  # deleted by its author meanwhile, say
                log.warning("could not take the mark off message %s", message_id, exc_info=True)

    async def _catch_up(self, scene: Scene, since: int | None = None) -> Trigger | None:
        """Read the channel after the newest stored message (and from `since`, a kept post, on),
        store in order (intake held); the round to answer them with."""
        last = await self.stores.turns.last_message_id(scene.id) or 0
        if since is not None:  # an NPC turn may have been stored after the first kept post
            last = min(last, since - 1)
        # Not before the scene's last change either: a scene that was ended and started again
        # must not take in what was said while it was off.
        after = max(last, snowflake_at(scene.updated_at))
        trigger: Trigger | None = None
        found = await self.poster.messages_after(scene.channel_id, after, self.limit)
        for message in found:
            wanted = await self.play.take(scene, message, reading_back=since is not None)
            if wanted is not None:
                trigger = wanted if trigger is None else trigger.merge(wanted)
        if found:
            log.info("read back %d messages in channel %s", len(found), scene.channel_id)
        return trigger
