"""Watching the soak's process: memory over time, and where the event loop was when it stalled."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.bench.report import MiB, current_rss_bytes
from tests.fake_discord import FakeDiscord

# What the fake records for tests to inspect afterwards; the soak reads none of it, and keeping
# it for hours would count the harness's memory as the bot's.
FAKE_RECORDS = ("gateway_events", "gateway_received", "webhook_executions", "typing_events")
SAMPLE_SECONDS = 5.0
WITNESS_POLL = 0.02  # how often the witness thread looks at the loop's last tick
STACK_FRAMES = 12  # the innermost frames kept for each stall


@dataclass
class Watch:
    """Resident memory sampled over the evening, and the stack of each long stall."""

    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds in, MiB)
    stall_stacks: list[list[str]] = field(default_factory=list)

    def rss_at(self, seconds: float) -> float | None:
        """The first sample taken at or after `seconds` into the evening."""
        return next((mib for at, mib in self.rss_mb if at >= seconds), None)


async def _sample(fake: FakeDiscord, watch: Watch) -> None:
    start = time.monotonic()
    while True:
        for name in FAKE_RECORDS:
            getattr(fake, name).clear()
        rss = current_rss_bytes()
        if rss is not None:
            watch.rss_mb.append((round(time.monotonic() - start, 1), rss / MiB))
        await asyncio.sleep(SAMPLE_SECONDS)


class _Witness:
    """A thread that copies the loop thread's stack once whenever the loop goes `threshold`
    without running its tick (the loop itself cannot say where it was)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float, watch: Watch) -> None:
        self.loop, self.threshold, self.watch = loop, threshold, watch
        self.loop_thread = threading.get_ident()
        self.last_tick = time.monotonic()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-stall-witness", daemon=True)

    def tick(self) -> None:
        self.last_tick = time.monotonic()
        if not self.stopped.is_set():
            self.loop.call_later(WITNESS_POLL / 2, self.tick)

    def _run(self) -> None:
        seen = 0.0  # the tick of the stall already recorded
        while not self.stopped.wait(WITNESS_POLL):
            last = self.last_tick
            if time.monotonic() - last > self.threshold and last != seen:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    stack = traceback.format_stack(frame)[-STACK_FRAMES:]
                    self.watch.stall_stacks.append([line.rstrip() for line in stack])
                seen = last


@asynccontextmanager
async def watching(fake: FakeDiscord, stall_threshold: float) -> AsyncIterator[Watch]:
    """Sample memory (dropping the fake's records) and witness stalls while the block runs."""
    watch = Watch()
    witness = _Witness(asyncio.get_running_loop(), stall_threshold, watch)
    witness.tick()
    witness.thread.start()
    sampler = asyncio.create_task(_sample(fake, watch))
    try:
        yield watch
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        witness.stopped.set()
        witness.thread.join(timeout=1.0)
