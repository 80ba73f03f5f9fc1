"""What a start or a gateway resume puts right: turns never posted, messages never seen."""

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
                    await self._catch_up(scene)
                except Exception:
                    log.warning("could not read back channel %s", scene.channel_id, exc_info=True)
        finally:
            self.caught_up.set()

    async def _catch_up(self, scene: Scene) -> None:
        """Read the channel after the newest stored message, store in order, answer once."""
        # Not before the scene's last change either: a scene that was ended and started again
        # must not take in what was said while it was off.
        last = await self.stores.turns.last_message_id(scene.id) or 0
        after = max(last, snowflake_at(scene.updated_at))
        trigger: Trigger | None = None
        async with self.sessions.get(scene.channel_id).intake:
            found = await self.poster.messages_after(scene.channel_id, after, self.limit)
            for message in found:
                wanted = await self.play.take(scene, message)
                if wanted is not None:
                    trigger = wanted if trigger is None else trigger.merge(wanted)
        if found:
            log.info("read back %d messages in channel %s", len(found), scene.channel_id)
        if trigger is not None:
            self.sessions.trigger(scene.channel_id, trigger)
