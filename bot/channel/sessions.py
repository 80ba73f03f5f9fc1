"""Per-channel runtime state, one `ChannelSession` per channel, and the rounds they schedule.

A round runs only after its channel has been quiet for the trigger's delay; triggers that
arrive meanwhile merge into the next round, and one channel never runs two rounds at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.channel.triggers import Passed, TableWait, Trigger
from bot.domain import CancelToken

log = logging.getLogger(__name__)
DEFAULT_SESSION_LIMIT = 512
__all__ = ["ChannelSession", "ChannelSessions", "Passed", "TableWait", "Trigger"]


@dataclass(eq=False)
class ChannelSession:
    """What the bot holds about one channel between messages."""

    channel_id: int
    # Held by a round, a swipe, a continue, a delete or a clear: one change at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Held while player messages are stored, so they enter the history in the order posted
    # (a message waiting out a locked database, or read back after a restart, goes first).
    intake: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The newest NPC message, which carries the Swipe/Continue/Delete buttons.
    controls_message_id: int | None = None
    # A human (not a bot, not a webhook) wrote since the last round. Proxy webhooks
    # (PluralKit) only start rounds after a human message, so two bots cannot loop.
    human_spoke: bool = False
    table: TableWait = field(default_factory=TableWait)
    # The newest round, if the model passed in it: `/scene status` says so.
    passed: Passed | None = None
    pending: Trigger | None = None
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    # Cancel handles of the round, swipe or continue that is running or about to run.
    cancels: set[CancelToken] = field(default_factory=set)
    # Background work after a round (the story so far); a new trigger or a halt stops it.
    chore: asyncio.Task[None] | None = None
    chore_cancel: CancelToken | None = None

    @property
    def idle(self) -> bool:
        """Nothing runs, waits or holds the lock: the session may be dropped."""
        return (
            self.task is None
            and self.chore is None
            and self.timer is None
            and self.pending is None
            and not self.lock.locked()
            and not self.intake.locked()
            and self.table.idle
        )

    def halt(self) -> None:
        """Forget a waiting trigger and stop a running round at its next token."""
        self.pending = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for token in self.cancels:
            token.cancel()

    def new_round(self) -> None:
        """A round starts: what asked for it is answered, the table waits afresh."""
        self.human_spoke = False
        self.table.reset()

    @asynccontextmanager
    async def halted(self) -> AsyncIterator[None]:
        """Stop what runs or waits, then hold the channel: for ending, clearing, deleting."""
        self.halt()
        async with self.lock:
            yield

    @contextmanager
    def cancellable(self) -> Iterator[CancelToken]:
        """A cancel handle that `halt` reaches while the block runs."""
        token = CancelToken()
        self.cancels.add(token)
        try:
            yield token
        finally:
            self.cancels.discard(token)


RoundRunner = Callable[[ChannelSession, CancelToken, Trigger], Awaitable[None]]
ChoreRunner = Callable[[ChannelSession, CancelToken], Awaitable[None]]


class ChannelSessions:
    """The registry of channel sessions (idle ones beyond `limit` are dropped) and their rounds."""

    def __init__(
        self,
        run: RoundRunner,
        *,
        limit: int = DEFAULT_SESSION_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        chores_wait: Callable[[int], bool] = lambda channel_id: False,
    ) -> None:
        self._run = run
        # Whether a channel's chores skip their turn (its rounds wait for the database).
        self._chores_wait = chores_wait
        # Features' work after a posted round, in registration order (see `after_rounds`).
        self._chores: list[ChoreRunner] = []
        self.limit = limit
        self._clock = clock
        self._sessions: OrderedDict[int, ChannelSession] = OrderedDict()
        self.rounds_started = 0

    def after_rounds(self, chore: ChoreRunner) -> None:
        """Run `chore` after every posted round, holding the channel, until a trigger stops it."""
        self._chores.append(chore)

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._sessions

    def get(self, channel_id: int) -> ChannelSession:
        """The channel's session, made on first use; the least recently used idle ones go."""
        session = self._sessions.get(channel_id)
        if session is None:
            session = self._sessions[channel_id] = ChannelSession(channel_id)
            self._evict()
        self._sessions.move_to_end(channel_id)
        return session

    def _evict(self) -> None:
        excess = len(self._sessions) - self.limit
        if excess <= 0:
            return
        idle = [key for key, s in self._sessions.items() if s.idle]
        for key in idle[:excess]:
            del self._sessions[key]

    # -- rounds -------------------------------------------------------------------------------

    def trigger(self, channel_id: int, trigger: Trigger) -> None:
        """Ask for a round after `trigger.delay` quiet seconds; a newer one restarts the wait."""
        session = self.get(channel_id)
        held, session.table.held = session.table.held, None
        if held is not None:  # the names a table round was holding for go first
            trigger = held.merge(trigger)
        old = session.pending
        session.pending = old.merge(trigger) if old else trigger
        if session.chore_cancel is not None:  # a player is waiting: the chore stops at once
            session.chore_cancel.cancel()
        if session.task is None:  # a running round re-arms the wait when it finishes
            self._arm(session)

    def hold(self, channel_id: int, trigger: Trigger, timeout: float) -> None:
        """Table mode: keep `trigger` for the round that waits for the other players; the
        round's first post arms its timeout, after which it runs anyway."""
        session = self.get(channel_id)
        table = session.table
        table.held = table.held.merge(trigger) if table.held else trigger
        if table.timer is None:
            table.due = datetime.now(UTC) + timedelta(seconds=timeout)
            loop = asyncio.get_running_loop()
            table.timer = loop.call_later(timeout, self.time_out, channel_id)

    def time_out(self, channel_id: int) -> None:
        """The round timeout passes (now, if its timer is still armed): the NPCs answer those
        who have posted."""
        table = self.get(channel_id).table
        if table.timer is not None:
            table.timer.cancel()
        table.timer = table.due = None
        waiting = table.held or Trigger(may_pass=True)
        self.trigger(channel_id, replace(waiting, delay=0.0))

    def _arm(self, session: ChannelSession) -> None:
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        assert session.pending is not None
        delay = session.pending.delay
        if delay <= 0:
            self._start(session)
        else:
            loop = asyncio.get_running_loop()
            session.timer = loop.call_later(delay, self._start, session)

    def _start(self, session: ChannelSession) -> None:
        session.timer = None
        if session.task is not None or session.pending is None:
            return
        trigger, session.pending = session.pending, None
        cancel = CancelToken()
        session.cancels.add(cancel)
        loop = asyncio.get_running_loop()
        session.task = loop.create_task(self._once(session, cancel, trigger))

    async def _once(self, session: ChannelSession, cancel: CancelToken, trigger: Trigger) -> None:
        self.rounds_started += 1
        try:
            async with session.lock:
                if not cancel.cancelled:
                    await self._run(session, cancel, trigger)
        except Exception:
            log.exception("round in channel %s failed", session.channel_id)
        finally:
            session.task = None
            session.cancels.discard(cancel)
            # Messages that came in during the round wait for their own quiet period.
            if session.pending is not None:
                self._arm(session)
            elif self._chores_due(session, cancel):
                self._start_chore(session)

    def _chores_due(self, session: ChannelSession, cancel: CancelToken) -> bool:
        """Chores follow a round unless a halt wants the lock or the channel's rounds wait."""
        return (
            bool(self._chores)
            and not cancel.cancelled
            and not self._chores_wait(session.channel_id)
        )

    def _start_chore(self, session: ChannelSession) -> None:
        """Run the chores once the round is posted, holding the channel; never two at once."""
        if session.chore is not None:
            return
        cancel = session.chore_cancel = CancelToken()
        session.cancels.add(cancel)  # so `halt` reaches it too
        session.chore = asyncio.get_running_loop().create_task(self._chore(session, cancel))

    async def _chore(self, session: ChannelSession, cancel: CancelToken) -> None:
        try:
            async with session.lock:
                for chore in self._chores:
                    if cancel.cancelled:
                        break
                    await chore(session, cancel)
        except Exception:
            log.exception("background work in channel %s failed", session.channel_id)
        finally:
            session.chore = session.chore_cancel = None
            session.cancels.discard(cancel)

    def busy(self, channel_id: int) -> bool:
        """Whether a round is running or waiting in this channel."""
        session = self._sessions.get(channel_id)
        return session is not None and (session.task is not None or session.timer is not None)

    async def wait_idle(self, channel_id: int | None = None, *, chores: bool = True) -> None:
        """Wait until no round runs or waits (in `channel_id`, or anywhere), nor a chore runs
        unless `chores` is False."""
        while True:
            if channel_id is None:
                sessions = list(self._sessions.values())
            else:
                sessions = [s for s in (self._sessions.get(channel_id),) if s is not None]
            tasks = [
                t for s in sessions for t in (s.task, s.chore if chores else None) if t is not None
            ]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            elif any(s.timer is not None for s in sessions):
                await asyncio.sleep(0.01)
            else:
                return

    async def close(self) -> None:
        """Cancel waiting triggers and running rounds."""
        tasks = []
        for session in self._sessions.values():
            session.halt()
            session.table.reset()
            for task in (session.task, session.chore):
                if task is not None:
                    task.cancel()
                    tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)
