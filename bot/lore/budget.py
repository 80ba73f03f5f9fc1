"""Time budgets for the lore work a book can make expensive, per prompt and per book.

Key matching, recursion and the sticky and cooldown look-backs cost what a book makes them cost:
a hostile book can hold thousands of backtracking `/regex/` keys or entries that all fire. So
each prompt has a total budget and each book a budget of its own within it; work past a book's
budget is skipped, and activation reports the entries it left undecided. A hostile book then
degrades itself, and at worst the books after it, never the bot.

Time is the scanning thread's CPU time (a scan runs in one thread from start to end): what a
book makes the bot compute, so a busy machine, or the event loop holding the GIL meanwhile,
does not cut an ordinary book short. On a machine that has the CPU, it is also the wall time.
Nor is a garbage collection the scanning thread sets off: it walks the whole process's heap,
which in a long-running bot can take tens of milliseconds, a book's whole budget, for objects
the book did not make. (A book sets collections off only by allocating, which is charged.)
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


def _now() -> float:
    """CPU seconds of the calling thread, less those its garbage collections took."""
    return time.thread_time() - getattr(_local, "collecting_spent", 0.0)


def _time_collection(phase: str, info: dict[str, int]) -> None:
    """Add each full garbage collection's CPU time to its thread's tally (a gc callback).

    Only full ones: the younger generations hold what was made lately, by the scan itself.
    """
    if info["generation"] != FULL_COLLECTION:
        return
    if phase == "start":
        _local.collecting_since = time.thread_time()
        return
    since: float | None = getattr(_local, "collecting_since", None)
    if since is not None:
        spent = getattr(_local, "collecting_spent", 0.0)
        _local.collecting_spent = spent + time.thread_time() - since
        _local.collecting_since = None


def _time_collections() -> None:
    """Have garbage collections timed from now on (once per process: the hook is global)."""
    with _hooking:  # two scans starting at once must not hook it twice (and count it twice)
        if _time_collection not in gc.callbacks:
            gc.callbacks.append(_time_collection)


def breathe() -> float:
    """The thread's CPU time; once every YIELD_EVERY of it, the GIL is handed over first."""
    now = _now()
    due: float | None = getattr(_local, "due", None)
    if due is None or now >= due:
        if due is not None:
            time.sleep(0)  # lets any thread waiting for the GIL (the event loop's) run now
        _local.due = now + YIELD_EVERY
    return now


class OutOfTime(Exception):
    """A book's budget ran out in the middle of deciding something."""


class Deadline:
    """When the current stretch of one book's work must stop; asking also lets the loop run."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    def left(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - breathe()

    def passed(self) -> bool:
        """Whether the time is up."""
        return breathe() >= self.at

    def check(self) -> None:
        """Raise OutOfTime once the time is up."""
        if breathe() >= self.at:
            raise OutOfTime


NEVER = Deadline(math.inf)


def _seconds(ms: int | None) -> float:
    return math.inf if ms is None else ms / 1000


class ScanBudget:
    """One prompt's time: `total_ms` in all, at most `book_ms` of it per book (None: no limit)."""

    def __init__(self, total_ms: int | None, book_ms: int | None, books: int) -> None:
        _time_collections()
        self._end = _now() + _seconds(total_ms)
        self._left = [_seconds(book_ms)] * books

    @contextmanager
    def book(self, source: int, share: float = 1.0) -> Iterator[Deadline]:
        """Work for book `source` (within `share` of its time left), charged to the book."""
        start = _now()
        try:
            yield Deadline(min(self._end, start + self._left[source] * share))
        finally:
            self._left[source] -= _now() - start

    def spent(self, source: int) -> bool:
        """Whether book `source` has no time left."""
        return self._left[source] <= 0 or _now() >= self._end
