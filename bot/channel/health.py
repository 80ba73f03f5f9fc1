"""Whether the database takes writes: the intake and the rounds ask, a probe opens it again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.channel.ports import Poster
from bot.channel.sessions import Trigger
from bot.store.database import failure_reason, refuses_writes

log = logging.getLogger(__name__)
PROBE_SECONDS = 3.0
DOWN_NOTICE = (
    "The database is not taking writes, so the NPCs wait. Posts marked ⚠️ are kept and will be "
    "saved when it is back."
)
BACK_NOTICE = "The table is back: the database takes writes again, and posts marked ⚠️ are saved."

# Raises while the database refuses writes.
Probe = Callable[[], Awaitable[None]]
# Puts one channel right once writes go through again (see `Recovery.after_outage`).
Recover = Callable[[int], Awaitable[None]]


class WriteGate:
    """Closed by a write the database refused (a probe confirms it), opened again by a probe.

    While it is closed, player posts are marked and kept in order, rounds wait, and each channel
    this touches hears of it once. Once a probe's write goes through, every such channel is put
    right (its kept posts stored, its waiting round run) and hears once that the table is back.
    """

    def __init__(self, poster: Poster, probe: Probe, *, interval: float = PROBE_SECONDS) -> None:
        self.poster = poster
        self._probe = probe
        self.interval = interval
        self.down = False
        self._kept: dict[int, list[int]] = {}  # marked posts per channel, oldest first
        self._waiting: dict[int, Trigger] = {}  # the round each channel was refused
        self._told: set[int] = set()
        self._recover: Recover = self._forget_channel
        self._watch: asyncio.Task[None] | None = None
        self._closed = False
        # Set while writes go through and nothing waits to be put right (tests wait on it).
        self.settled = asyncio.Event()
        self.settled.set()

    def recover_with(self, recover: Recover) -> None:
        """What puts a channel right after an outage (the recovery, built after the gate)."""
        self._recover = recover

    def keeps_posts(self, channel_id: int, *, reading_back: bool = False) -> bool:
        """Whether a post must be kept, not stored: writes fail, or older posts here wait."""
        return self.down or (not reading_back and channel_id in self._kept)

    def holds_rounds(self, channel_id: int) -> bool:
        """Whether a round here must wait: writes fail, or the channel is not put right yet."""
        return self.down or channel_id in self._kept or channel_id in self._waiting

    def keep(self, channel_id: int, message_id: int) -> bool:
        """Remember a post to store once writes go through; False if it was kept already."""
        kept = self._kept.setdefault(channel_id, [])
        if message_id in kept:
            return False
        kept.append(message_id)
        self.settled.clear()
        return True

    def kept(self, channel_id: int) -> list[int]:
        """The posts kept in this channel, oldest first."""
        return list(self._kept.get(channel_id, ()))

    def forget(self, channel_id: int, message_ids: Sequence[int]) -> None:
        """These kept posts are dealt with."""
        left = [m for m in self._kept.get(channel_id, ()) if m not in message_ids]
        if left:
            self._kept[channel_id] = left
        else:
            self._kept.pop(channel_id, None)

    def waiting_round(self, channel_id: int) -> Trigger | None:
        """The round this channel was refused, handed over once."""
        return self._waiting.pop(channel_id, None)

    async def refused(self, channel_id: int, exc: BaseException, *, tell: bool = True) -> bool:
        """Whether `exc` was the database refusing writes; then the gate is closed (and the
        channel told once, if `tell`)."""
        if not refuses_writes(exc):
            return False
        if not self.down:
            if await self._takes_writes():  # not the database's fault after all
                return False
            if not self.down:  # another failure may have closed it during the probe
                self._close(exc)
        if tell:
            await self._tell(channel_id)
        return True

    async def refuse_round(self, channel_id: int, trigger: Trigger) -> bool:
        """Whether a round must wait; it is kept to run once the channel is put right."""
        if not self.holds_rounds(channel_id):
            return False
        waiting = self._waiting.get(channel_id)
        self._waiting[channel_id] = waiting.merge(trigger) if waiting else trigger
        self.settled.clear()
        if self.down:
            await self._tell(channel_id)
        return True

    async def close(self) -> None:
        """Stop probing (shutdown)."""
        self._closed = True
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

    def _close(self, exc: BaseException) -> None:
        log.error(
            "the database refuses writes (%s); rounds wait and posts are kept until it takes them",
            failure_reason(exc),
        )
        self.down = True
        self.settled.clear()
        if self._watch is None and not self._closed:  # one probe at a time, per process
            self._watch = asyncio.get_running_loop().create_task(self._watching())

    async def _watching(self) -> None:
        """Probe every `interval` seconds until writes go through and every channel is right."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                if await self._takes_writes() and await self._reopen():
                    return
        finally:
            self._watch = None

    async def _takes_writes(self) -> bool:
        try:
            await self._probe()
        except Exception as exc:
            log.debug("the database still refuses writes: %s", failure_reason(exc))
            return False
        return True

    async def _reopen(self) -> bool:
        """Put every affected channel right; False if writes failed again meanwhile."""
        log.info("the database takes writes again; storing the posts kept meanwhile")
        self.down = False
        while not self.down:
            affected = [*self._kept, *self._waiting, *self._told]
            if not affected:
                self.settled.set()
                return True
            await self._put_right(affected[0])
        return False

    async def _put_right(self, channel_id: int) -> None:
        try:
            await self._recover(channel_id)
        except Exception as exc:
            if await self.refused(channel_id, exc, tell=False):
                return
            log.warning(
                "could not put channel %s right after the outage", channel_id, exc_info=True
            )
            await self._forget_channel(channel_id)  # its marks stay: those posts were not saved
        if self.down or channel_id in self._kept or channel_id in self._waiting:
            return  # a post or a round came in meanwhile: another pass
        if channel_id in self._told:
            self._told.discard(channel_id)
            await self._say(channel_id, BACK_NOTICE)

    async def _forget_channel(self, channel_id: int) -> None:
        self._kept.pop(channel_id, None)
        self._waiting.pop(channel_id, None)

    async def _tell(self, channel_id: int) -> None:
        if channel_id in self._told:
            return
        self._told.add(channel_id)
        await self._say(channel_id, DOWN_NOTICE)

    async def _say(self, channel_id: int, text: str) -> None:
        try:
            await self.poster.notice(channel_id, text)
        except Exception:  # the channel learns it from the marks then
            log.warning("could not tell channel %s about the database", channel_id, exc_info=True)
