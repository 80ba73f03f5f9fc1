"""Time budgets for the lore work a book can make expensive, per prompt and per book.

Key matching, recursion and the sticky and cooldown look-backs cost what a book makes them cost:
a hostile book can hold thousands of backtracking `/regex/` keys or entries that all fire. So
each prompt has a total budget and each book a budget of its own within it; work past a book's
budget is skipped, and activation reports the entries it left undecided. A hostile book then
degrades itself, and at worst the books after it, never the bot.

Time is the scanning thread's CPU time (a scan runs in one thread from start to end): what a
book makes the bot compute, so a busy machine, or the event loop holding the GIL meanwhile,
does not cut an ordinary book short. On a machine that has the CPU, it is also the wall time.
A full garbage collection the scanning thread sets off is not counted either: it walks the
whole process's heap, which in a long-running bot can take tens of milliseconds, a book's whole
budget, for objects the book did not make. (A book sets collections off only by allocating,
which is charged.)
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Deadline", "OutOfTime", "ScanBudget", "breathe"]

# CPU seconds a lore thread runs before it hands the GIL over. Left alone, a busy thread keeps
# it until the event loop's thread has waited 5 ms for it, and on a loaded machine every such
# handover can wait again for the operating system: stalls of 100 ms and more. Handing it over
# every millisecond keeps the loop's waits to a few milliseconds, for a few percent of the scan.
YIELD_EVERY = 0.001

FULL_COLLECTION = 2  # the oldest generation: a collection of it walks the whole heap
_local = threading.local()
_hooking = threading.Lock()


class _ThreadClock:
    """One thread's CPU time less its full garbage collections, read only when it may matter.

    Reading a thread's CPU time is a system call (about a microsecond), and a scan asks
    whether its time is up hundreds of times. A thread's CPU time cannot run ahead of the wall
    clock, which is cheap to read: until the wall clock says a moment may have come, it has not.
    """

    __slots__ = ("collecting_since", "collecting_spent", "cpu", "due", "wall")

    def __init__(self) -> None:
        self.collecting_since: float | None = None
        self.collecting_spent = 0.0
        self.due = -math.inf  # when to hand the GIL over next (the first breath only sets it)
        self.cpu = self.wall = 0.0
        self.read()

    def read(self) -> float:
        """The CPU time now (exact)."""
        self.wall = time.perf_counter()
        self.cpu = time.thread_time() - self.collecting_spent
        return self.cpu

    def reached(self, moment: float) -> bool:
        """Whether the CPU time has reached `moment`."""
        return self.cpu + (time.perf_counter() - self.wall) >= moment and self.read() >= moment

    def breathe(self) -> None:
        """Once every YIELD_EVERY of CPU time, hand the GIL over first."""
        if self.reached(self.due):
            if self.due > -math.inf:
                time.sleep(0)  # lets any thread waiting for the GIL (the event loop's) run now
            self.due = self.read() + YIELD_EVERY


def _clock() -> _ThreadClock:
    """The calling thread's clock."""
    try:
        clock: _ThreadClock = _local.clock
    except AttributeError:
        clock = _local.clock = _ThreadClock()
    return clock


def _time_collection(phase: str, info: dict[str, int]) -> None:
    """Add each full garbage collection's CPU time to its thread's tally (a gc callback).

    Only full ones: the younger generations hold what was made lately, by the scan itself.
    """
    if info["generation"] != FULL_COLLECTION:
        return
    clock = _clock()
    if phase == "start":
        clock.collecting_since = time.thread_time()
    elif clock.collecting_since is not None:
        clock.collecting_spent += time.thread_time() - clock.collecting_since
        clock.collecting_since = None


def _time_collections() -> None:
    """Have garbage collections timed from now on (once per process: the hook is global)."""
    with _hooking:  # two scans starting at once must not hook it twice (and count it twice)
        if _time_collection not in gc.callbacks:
            gc.callbacks.append(_time_collection)


def breathe() -> None:
    """Once every YIELD_EVERY of the thread's CPU time, hand the GIL over first."""
    _clock().breathe()


class OutOfTime(Exception):
    """A book's budget ran out in the middle of deciding something."""


class Deadline:
    """When the current stretch of one book's work must stop; asking also lets the loop run."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    def left(self) -> float:
        """Seconds left (negative once passed)."""
        clock = _clock()
        clock.breathe()
        return self.at - clock.read()

    def passed(self) -> bool:
        """Whether the time is up."""
        clock = _clock()
        clock.breathe()
        return clock.reached(self.at)

    def check(self) -> None:
        """Raise OutOfTime once the time is up."""
        if self.passed():
            raise OutOfTime


NEVER = Deadline(math.inf)


def _seconds(ms: int | None) -> float:
    return math.inf if ms is None else ms / 1000


class ScanBudget:
    """One prompt's time: `total_ms` in all, at most `book_ms` of it per book (None: no limit)."""

    def __init__(self, total_ms: int | None, book_ms: int | None, books: int) -> None:
        _time_collections()
        self._clock = _clock()  # a scan runs in one thread from start to end
        self._end = self._clock.read() + _seconds(total_ms)
        self._left = [_seconds(book_ms)] * books

    @contextmanager
    def book(self, source: int, share: float = 1.0) -> Iterator[Deadline]:
        """Work for book `source` (within `share` of its time left), charged to the book."""
        start = self._clock.read()
        try:
            yield Deadline(min(self._end, start + self._left[source] * share))
        finally:
            self._left[source] -= self._clock.read() - start

    def spent(self, source: int) -> bool:
        """Whether book `source` has no time left."""
        return self._left[source] <= 0 or self._clock.reached(self._end)
