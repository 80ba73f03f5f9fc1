"""An event-loop stall monitor: how long the loop went without running a ticker task.

A stall is the loop's own doing: work it ran, or a call it waited in. Time the operating
system kept the loop's thread waiting for a CPU while other processes ran (another test
worker, a compiler) is left out where Linux reports it (`/proc/thread-self/schedstat`, whose
second field is the thread's time runnable but not running); elsewhere every gap counts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

TICK_SECONDS = 0.002


@dataclass
class Stalls:
    """The gaps the ticker saw beyond its own sleep, in seconds."""

    threshold: float = 0.1
    longest: float = 0.0
    over: list[float] = field(default_factory=list)

    def saw(self, gap: float) -> None:
        self.longest = max(self.longest, gap)
        if gap > self.threshold:
            self.over.append(gap)


@asynccontextmanager
async def stall_monitor(threshold: float = 0.1) -> AsyncIterator[Stalls]:
    """Measure the loop's stalls while the block runs (gaps over `threshold` are listed)."""
    stalls = Stalls(threshold)
    loop = asyncio.get_running_loop()
    ticked = asyncio.Event()

    async def tick() -> None:
        with _runqueue_clock() as waited:
            last, last_waited = loop.time(), waited()
            while True:
                await asyncio.sleep(TICK_SECONDS)
                now, now_waited = loop.time(), waited()
                gap = now - last - TICK_SECONDS - (now_waited - last_waited)
                stalls.saw(max(0.0, gap))
                last, last_waited = now, now_waited
                ticked.set()

    ticker = asyncio.create_task(tick())
    await ticked.wait()  # the ticker runs before the block starts
    try:
        yield stalls
    finally:
        ticked.clear()
        await ticked.wait()  # a stall at the block's very end is measured too
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)


@contextmanager
def _runqueue_clock() -> Iterator[Callable[[], float]]:
    """Seconds the calling thread has been runnable but not running; always 0.0 where the
    system does not say."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        yield lambda: 0.0
        return

    def waited() -> float:
        fields = os.pread(fd, 128, 0).split()
        return int(fields[1]) / 1e9 if len(fields) > 1 else 0.0

    try:
        yield waited
    finally:
        os.close(fd)
