"""The stall monitor: work on the loop is a stall, waiting for a CPU other processes hold is not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.bench.stall import stall_monitor

SCHEDSTAT = Path("/proc/thread-self/schedstat")


async def test_work_on_the_loop_is_a_stall() -> None:
    async with stall_monitor(0.05) as busy:
        # 150 ms of CPU, not of the clock: on a loaded machine part of the wall time is spent
        # waiting for a CPU, which is not the loop's doing.
        ends = time.thread_time() + 0.15
        while time.thread_time() < ends:
            pass
    async with stall_monitor(0.05) as blocked:
        time.sleep(0.15)  # a blocking call waits without a CPU, and is a stall all the same
    assert busy.over and busy.longest >= 0.1
    assert blocked.over and blocked.longest >= 0.1


@contextmanager
def _crowded_cpu() -> Iterator[None]:
    """This thread and three busy processes on one CPU, so this thread mostly waits for it."""
    cpu = min(os.sched_getaffinity(0))
    mine = os.sched_getaffinity(0)
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile 1: pass"]
        )
        for _ in range(3)
    ]
    os.sched_setaffinity(0, {cpu})  # this thread only (the loop's)
    try:
        time.sleep(0.2)  # the burners are running
        yield
    finally:
        os.sched_setaffinity(0, mine)
        for burner in burners:
            burner.kill()
            burner.wait()


@pytest.mark.skipif(not SCHEDSTAT.exists(), reason="needs Linux's per-thread schedstat")
async def test_waiting_for_a_cpu_other_processes_hold_is_not_a_stall() -> None:
    with _crowded_cpu():
        async with stall_monitor(0.01) as crowded:
            ends = time.perf_counter() + 1.0
            while time.perf_counter() < ends:
                await asyncio.sleep(0)  # the loop never holds on: any gap is the CPU's
    # The thread spent most of that second waiting for the CPU, in gaps longer than 10 ms,
    # and none of it counts.
    assert crowded.over == [], crowded
