"""The edit budget of turns shown as they are written: per channel, per webhook, in order.

Every test runs on an injected clock: nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.channel.limits import EditLimiter, Window

HOOK = 1
A, B, C = 10, 11, 12


class FakeClock:
    """A clock the test moves; its sleep moves it at once."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.slept: list[float] = []
        self.stuck = False  # a sleep that never ends (until its task is cancelled)

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.stuck:
            await asyncio.Event().wait()
        self.time += seconds
        await asyncio.sleep(0)


def _limiter(clock: FakeClock, **kwargs: object) -> EditLimiter:
    return EditLimiter(clock, **kwargs)  # type: ignore[arg-type]


def test_updates_of_a_channel_keep_their_gap_and_the_final_one_does_not_wait() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, gap=1.0)
    assert limiter.ask(A, HOOK) == 0.0
    clock.time += 0.25
    assert limiter.ask(A, HOOK) == pytest.approx(0.75)
    assert limiter.ask(A, HOOK, final=True) == 0.0  # the stored text goes out at once
    clock.time += 1.0
    assert limiter.ask(A, HOOK) == 0.0


def test_a_channel_window_keeps_room_for_the_final_update() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, channel=Window(5, 5.0), webhook=Window(50, 1.0), gap=0.0)
    for _ in range(4):
        assert limiter.ask(A, HOOK) == 0.0
        clock.time += 0.1
    # Four updates in the window: the fifth is kept for the final text.
    assert limiter.ask(A, HOOK) == pytest.approx(4.6)
    assert limiter.ask(A, HOOK, final=True) == 0.0
    assert limiter.ask(A, HOOK, final=True) > 0  # the window is full even for a final one
    clock.time = 1005.0  # the first update left the window; the final one is still in it
    assert limiter.ask(A, HOOK) == pytest.approx(0.1)
    clock.time = 1005.1
    assert limiter.ask(A, HOOK) == 0.0


def test_channels_sharing_a_webhook_share_its_window() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, webhook=Window(5, 2.0), gap=0.0)
    granted = [limiter.ask(channel, HOOK) == 0.0 for channel in (A, B, C, A, B, C)]
    assert granted == [True, True, True, True, False, False]  # one slot stays spare
    assert limiter.ask(C, HOOK, final=True) == 0.0
    assert limiter.ask(A, 2) == 0.0  # another webhook has its own window


def test_a_busy_channel_cannot_starve_one_that_waits() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, webhook=Window(2, 1.0), gap=0.0, spare=0)
    assert limiter.ask(A, HOOK) == 0.0
    clock.time += 0.5
    assert limiter.ask(A, HOOK) == 0.0
    clock.time += 0.1
    assert limiter.ask(B, HOOK) > 0  # B waits first
    clock.time = 1001.0  # one slot frees: A asks before B does, but B is ahead
    assert limiter.ask(A, HOOK) > 0
    assert limiter.ask(B, HOOK) == 0.0
    clock.time = 1001.5
    assert limiter.ask(A, HOOK) == 0.0


def test_channels_asking_all_the_time_get_even_shares_within_the_limits() -> None:
    clock = FakeClock()
    window = Window(5, 2.0)
    limiter = _limiter(clock, webhook=window, gap=0.1)
    due = {A: 0.0, B: 0.0, C: 0.0}
    grants: list[tuple[float, int]] = []
    while clock.time < 1060.0:
        # A asks at every tick whatever it was told; B and C ask again when told to.
        for channel in (A, B, C):
            if channel == A or clock.time >= due[channel]:
                wait = limiter.ask(channel, HOOK)
                if wait == 0.0:
                    grants.append((clock.time, channel))
                due[channel] = clock.time + wait
        clock.time = round(clock.time + 0.01, 2)
    shares = Counter(channel for _, channel in grants)
    assert max(shares.values()) - min(shares.values()) <= 2, shares
    times = [t for t, _ in grants]
    for i, start in enumerate(times):  # never more than limit - spare in any window
        assert sum(1 for t in times[i:] if t < start + window.seconds) <= window.limit - 1


def test_a_channel_that_stops_asking_gives_its_place_up() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, webhook=Window(1, 1.0), gap=0.0, spare=0)
    assert limiter.ask(A, HOOK) == 0.0
    assert limiter.ask(B, HOOK) > 0  # B queues, then its turn is cancelled without a word
    clock.time += 1.0
    assert limiter.ask(C, HOOK) > 0  # B is still ahead
    clock.time += 60.0
    assert limiter.ask(C, HOOK) == 0.0  # B's place lapsed


async def test_take_waits_on_the_clock_and_a_cancelled_wait_leaves_the_queue() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, webhook=Window(1, 1.0), gap=0.0, spare=0)
    await limiter.take(A, HOOK)
    await limiter.take(A, HOOK)
    assert clock.slept == [pytest.approx(1.0)]

    clock.stuck = True  # B's wait never ends by itself
    waiting = asyncio.create_task(limiter.take(B, HOOK))
    await asyncio.sleep(0)
    assert clock.slept[-1] > 0
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    clock.time += 1.0
    assert limiter.ask(C, HOOK) == 0.0  # the cancelled B is not ahead of C
