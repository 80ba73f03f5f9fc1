"""An event-loop stall monitor: how long the loop went without running a ticker task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
        last = loop.time()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = loop.time()
            stalls.saw(max(0.0, now - last - TICK_SECONDS))
            last = now
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
