"""The channel session registry: debounced rounds, merging, halting and the size bound."""

from __future__ import annotations

import asyncio

from bot.channel.sessions import ChannelSession, ChannelSessions, Trigger
from bot.domain import CancelToken

C1, C2 = 101, 102


class Rounds:
    """A round runner that records what it ran and can be held open."""

    def __init__(self, *, hold: bool = False) -> None:
        self.ran: list[tuple[int, Trigger]] = []
        self.gate = asyncio.Event()
        if not hold:
            self.gate.set()
        self.started = asyncio.Event()
        self.saw_cancel: list[bool] = []

    async def run(self, session: ChannelSession, cancel: CancelToken, trigger: Trigger) -> None:
        self.ran.append((session.channel_id, trigger))
        self.started.set()
        while not self.gate.is_set() and not cancel.cancelled:
            await asyncio.sleep(0.001)
        self.saw_cancel.append(cancel.cancelled)


async def test_triggers_during_a_round_merge_into_one_more_round() -> None:
    rounds = Rounds(hold=True)
    sessions = ChannelSessions(rounds.run)
    sessions.trigger(C1, Trigger())
    await rounds.started.wait()
    sessions.trigger(C1, Trigger())
    sessions.trigger(C1, Trigger(forced="Old Tobin"))
    sessions.trigger(C1, Trigger())
    assert sessions.busy(C1) and len(rounds.ran) == 1
    rounds.gate.set()
    await sessions.wait_idle()
    assert [t for _, t in rounds.ran] == [Trigger(), Trigger(forced="Old Tobin")]


async def test_quiet_period_restarts_on_each_message() -> None:
    rounds = Rounds()
    sessions = ChannelSessions(rounds.run)
    sessions.trigger(C1, Trigger(delay=30))
    first = sessions.get(C1).timer
    sessions.trigger(C1, Trigger(delay=30))
    second = sessions.get(C1).timer
    assert first is not None and second is not None
    # The first wait was cancelled and a new one started from the newer message.
    assert first.cancelled() and not second.cancelled() and second.when() >= first.when()
    assert rounds.ran == [] and sessions.busy(C1)
    sessions.trigger(C1, Trigger(delay=0))  # e.g. /reply: no wait
    await sessions.wait_idle()
    assert [c for c, _ in rounds.ran] == [C1] and second.cancelled()


async def test_messages_during_a_round_wait_for_their_own_quiet_period() -> None:
    rounds = Rounds(hold=True)
    sessions = ChannelSessions(rounds.run)
    sessions.trigger(C1, Trigger())
    await rounds.started.wait()
    sessions.trigger(C1, Trigger(delay=30))
    session = sessions.get(C1)
    rounds.gate.set()
    while session.task is not None:
        await asyncio.sleep(0)
    assert len(rounds.ran) == 1 and session.timer is not None  # waiting, not running yet
    await sessions.close()
    assert session.timer is None and session.pending is None


async def test_channels_run_their_rounds_independently() -> None:
    rounds = Rounds(hold=True)
    sessions = ChannelSessions(rounds.run)
    sessions.trigger(C1, Trigger())
    sessions.trigger(C2, Trigger())
    while len(rounds.ran) < 2:
        await asyncio.sleep(0)
    assert sessions.busy(C1) and sessions.busy(C2)
    rounds.gate.set()
    await sessions.wait_idle()
    assert sorted(c for c, _ in rounds.ran) == [C1, C2]


async def test_halt_stops_the_running_round_and_forgets_the_waiting_one() -> None:
    rounds = Rounds(hold=True)
    sessions = ChannelSessions(rounds.run)
    sessions.trigger(C1, Trigger())
    await rounds.started.wait()
    sessions.trigger(C1, Trigger(delay=30))  # would run after this round
    session = sessions.get(C1)
    session.halt()
    async with session.lock:  # the round gives the lock back once it saw the cancel
        assert rounds.saw_cancel == [True]
    await sessions.wait_idle()
    assert len(rounds.ran) == 1 and session.pending is None and not sessions.busy(C1)


async def test_a_round_halted_before_it_got_the_lock_never_runs() -> None:
    rounds = Rounds()
    sessions = ChannelSessions(rounds.run)
    session = sessions.get(C1)
    async with session.lock:  # e.g. a swipe in progress
        sessions.trigger(C1, Trigger())
        await asyncio.sleep(0)
        assert session.task is not None  # started, waiting for the lock
        session.halt()
    await sessions.wait_idle()
    assert rounds.ran == []


async def test_idle_sessions_beyond_the_limit_are_dropped_oldest_first() -> None:
    rounds = Rounds(hold=True)
    sessions = ChannelSessions(rounds.run, limit=3)
    sessions.trigger(1, Trigger())  # busy: must survive eviction
    await rounds.started.wait()
    for channel_id in range(2, 8):
        sessions.get(channel_id).human_spoke = True
    assert len(sessions) == 3
    assert 1 in sessions and 6 in sessions and 7 in sessions
    assert 2 not in sessions
    assert sessions.get(2).human_spoke is False  # made anew: forgotten state
    rounds.gate.set()
    await sessions.wait_idle()
