"""Which lore entries fire for the next prompt, and why.

An entry fires when one of its keys occurs in the last `scan_depth` turns (its secondary keys
combined by its selective logic), when it is constant, or when the content of an entry that
fired names it (recursion, bounded). To keep the prompt prefix stable, an entry that fired for
one of the last `sticky` prompts stays in. That history is not stored anywhere: the prompt built
`j` turns ago saw the turns before the newest `j`, so activation simply runs again on that
window. An entry with a cooldown replays its last prompts the same way (see cooldown.py).
An entry whose character filter keeps it from the speaker of the next prompt takes no part at
all: it neither fires, nor stays, nor makes others fire through its content, nor takes a place in
its inclusion group, as if the book did not hold it.
Every turn's key hits are computed once and kept as bit masks over the turns.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from .budget import Deadline, OutOfTime, ScanBudget
from .compiled import CompiledBook, CompiledEntry
from .cooldown import Timeline, replay, replay_horizon
from .keys import ScanText
from .model import Logic
from .reasons import Candidate, Undecided, Why
from .rules import Contender, admitted, group_losers

__all__ = ["LoreConfig", "ScanResult", "scan_books", "scan_lore"]

MAX_SCAN_DEPTH = 64  # turns; a hostile book's scan depth must not make every prompt scan them all
# Of a book's time, what matching its keys in the turns may take; the rest decides its entries,
# so a book whose regex keys eat their share still has its plainly keyed entries decided.
MATCH_SHARE = 0.5
LATE = "not checked in time"
KEYS_LATE = "its keys were not all matched in time"
RECURSION_LATE = "fired, but its content was not read for further keys in time"

Key = tuple[int, int]  # (source, entry index)

_LOGIC_NAMES = {
    "and_any": "AND ANY",
    "not_all": "NOT ALL",
    "not_any": "NOT ANY",
    "and_all": "AND ALL",
}


@dataclass(frozen=True)
class LoreConfig:
    """Scanning defaults (the settings), used where a book or entry says nothing."""

    scan_depth: int = 4
    sticky: int = 3
    max_recursion: int = 3
    budget: int = 1024
    scan_budget_ms: int | None = 200  # one prompt's lore work in all (None: no limit)
    book_budget_ms: int | None = 50  # one book's part of it


@dataclass(frozen=True)
class ScanResult:
    """The entries in for the next prompt, and those the time budget left undecided."""

    candidates: list[Candidate]
    undecided: list[Undecided]


class _Undecided(Exception):
    """Whether an entry fires depends on work the budget did not allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _window(n: int, ago: int, depth: int) -> int:
    """Bit mask of the turns the prompt built `ago` turns back scanned (`depth` turns)."""
    hi = n - ago
    lo = max(0, hi - depth)
    return ((1 << (hi - lo)) - 1) << lo if hi > lo else 0


def _passes(logic: Logic, hits: list[bool | None]) -> bool | None:
    """Whether the secondary keys' hits satisfy the selective logic (None: unknown keys decide)."""
    if logic == "and_any":
        settled, result = True in hits, True
    elif logic == "and_all":
        settled, result = False in hits, False
    elif logic == "not_any":
        settled, result = True in hits, False
    else:  # not_all
        settled, result = False in hits, True
    if settled:
        return result
    return None if None in hits else not result


def _secondary_text(logic: Logic, names: list[str], hits: list[bool | None]) -> str:
    """Why the secondary keys let the entry through, for reports."""
    label = logic.replace("_", " ").upper()
    if logic == "and_any":
        return f'{label}: "{names[hits.index(True)]}"'
    if logic == "not_all":
        return f'{label}: "{names[hits.index(False)]}" absent'
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"{label}: none of {quoted}" if logic == "not_any" else f"{label}: {quoted}"


class _Scan:
    """One activation: the turns' key hits per book, then activation at each past position."""

    def __init__(
        self,
        books: Sequence[CompiledBook],
        turns: Sequence[str],
        config: LoreConfig,
        char_limit: int | None,
        scene_turns: int | None,
        speaker: str | None = None,
    ) -> None:
        self.books = books
        # Per book, the entries the speaker's prompt may not have (their character filter).
        self.shut = [book.shut(speaker) for book in books]
        self.constants = [
            [e for e in book.constants if e.index not in shut]
            for book, shut in zip(books, self.shut, strict=True)
        ]
        self.config = config
        self.char_limit = char_limit
        self.total = len(turns)
        self.scene_turns = len(turns) if scene_turns is None else scene_turns
        self.budget = ScanBudget(config.scan_budget_ms, config.book_budget_ms, len(books))
        self.sticky = max((max(config.sticky, b.stickiest) for b in books), default=0)
        self.cooling = [
            (s, e) for s, b in enumerate(books) for e in b.cooldowns if e.index not in self.shut[s]
        ]
        self.replay = max((self._horizon(e) for _, e in self.cooling), default=0)
        span = max(self.sticky, self.replay) + max(
            (min(max(self._depth(b), b.deepest), MAX_SCAN_DEPTH) for b in books), default=0
        )
        self.raw = list(turns[max(0, len(turns) - span) :])
        texts = [ScanText(t) for t in self.raw]
        self.n = len(texts)
        self.masks: list[dict[int, int]] = []
        self.keyed: list[list[CompiledEntry]] = []
        # What the budget left unknown, per book: texts whose literal keys were not all tried
        # (`blind`), regex keys not tried per text (`pending`), keys switched off (`off`), and
        # the entries only those could make fire (`doubtful`).
        self.blind: list[int] = []
        self.pending: list[dict[int, int]] = []
        self.off: list[frozenset[int]] = []
        self.doubtful: list[list[CompiledEntry]] = []
        for source, book in enumerate(books):
            self._match_keys(source, book, texts)
        self._windows: dict[tuple[int, int], int] = {}
        self._timelines: dict[tuple[int, int], Timeline[Why]] = {}

    def _match_keys(self, source: int, book: CompiledBook, texts: list[ScanText]) -> None:
        """Every turn's key hits for one book, as bit masks over the turns."""
        with self.budget.book(source, MATCH_SHARE) as deadline:
            results = book.table.hits_many(texts, deadline)
        masks: dict[int, int] = {}
        pending: dict[int, int] = {}
        blind = 0
        for i, hits in enumerate(results):
            for key_id in hits.found:
                masks[key_id] = masks.get(key_id, 0) | 1 << i
            for key_id in hits.pending:
                pending[key_id] = pending.get(key_id, 0) | 1 << i
            if hits.blind:
                blind |= 1 << i
        off = frozenset(book.table.off)
        # Only a primary key can make an entry fire; secondary keys merely filter.
        shut = self.shut[source]
        entries = {e.index: e for k in masks for e in book.by_primary(k) if e.index not in shut}
        if blind:
            unknown = [e for e in book.entries if e.primary and e.index not in entries]
        else:
            found = {e.index: e for k in (*pending, *off) for e in book.by_primary(k)}
            unknown = [e for i, e in sorted(found.items()) if i not in entries]
        unknown = [e for e in unknown if e.index not in shut]
        self.masks.append(masks)
        self.keyed.append([e for _, e in sorted(entries.items()) if not e.constant])
        self.doubtful.append([e for e in unknown if not e.constant])
        self.blind.append(blind)
        self.pending.append(pending)
        self.off.append(off)

    def _newest(self, ago: int) -> str:
        """The newest turn the prompt built `ago` turns back saw (it seeds the draws)."""
        index = self.n - 1 - ago
        return self.raw[index] if index >= 0 else ""

    def _admitted(self, source: int, entry: CompiledEntry, ago: int, deadline: Deadline) -> bool:
        if self._cooling(source, entry, ago, deadline):
            return False
        book = self.books[source].name
        return admitted(entry, book, self._newest(ago), self.scene_turns - ago)

    def _cooling(self, source: int, entry: CompiledEntry, ago: int, deadline: Deadline) -> bool:
        """Whether the next prompt falls in the entry's cooldown (past prompts: replayed)."""
        if ago or not entry.cooldown:
            return False
        return self._timeline(source, entry, deadline).cooling

    def _lasts(self, entry: CompiledEntry) -> int:
        """Prompts the entry stays in after it fired."""
        return entry.sticky if entry.sticky is not None else self.config.sticky

    def _horizon(self, entry: CompiledEntry) -> int:
        return replay_horizon(self._lasts(entry), entry.cooldown)

    def _timeline(self, source: int, entry: CompiledEntry, deadline: Deadline) -> Timeline[Why]:
        """Where a cooldown entry stands for the next prompt, replayed from the past ones.

        Raises OutOfTime or _Undecided when the book's budget cannot settle it.
        """
        found = self._timelines.get((source, entry.index))
        if found is None:

            def fires(ago: int) -> Why | None:
                deadline.check()
                why = Why("constant") if entry.constant else self._match(source, entry, ago, {})
                if why is None or not self._admitted(source, entry, ago, deadline):
                    return None
                return why

            horizon = min(self._horizon(entry), self.total - 1)
            found = replay(fires, self._lasts(entry), entry.cooldown, horizon)
            self._timelines[source, entry.index] = found
        return found

    def _depth(self, book: CompiledBook) -> int:
        return book.scan_depth if book.scan_depth is not None else self.config.scan_depth

    def _window(self, source: int, entry: CompiledEntry, ago: int) -> int:
        depth = entry.scan_depth
        if depth is None:
            depth = self._depth(self.books[source])
        key = (ago, min(depth, MAX_SCAN_DEPTH))
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _window(self.n, *key)
        return window

    def _doubt(self, source: int, keys: Iterable[int], window: int) -> str | None:
        """Why some of `keys` are unknown in `window`, if they are (each counts as not found)."""
        blind, pending, off = self.blind[source], self.pending[source], self.off[source]
        if not (blind or pending or off):
            return None
        late = None
        for key_id in keys:
            if self.masks[source].get(key_id, 0) & window:
                continue
            if key_id in off:
                text = self.books[source].table.texts[key_id]
                return f'its key "{text}" timed out and is switched off'
            if (blind | pending.get(key_id, 0)) & window:
                late = KEYS_LATE
        return late

    def _match(
        self, source: int, entry: CompiledEntry, ago: int, rec: dict[int, str]
    ) -> Why | None:
        """Why `entry` fires for the prompt built `ago` turns back (with `rec` from content).

        Raises _Undecided when keys the budget left unknown decide it.
        """
        window, masks = self._window(source, entry, ago), self.masks[source]
        primary = next((k for k in entry.primary if masks.get(k, 0) & window or k in rec), None)
        if primary is None:
            doubt = self._doubt(source, entry.primary, window)
            if doubt is not None:
                raise _Undecided(doubt)
            return None
        table = self.books[source].table
        secondary = None
        if entry.secondary:
            hits = [self._state(source, k, window, rec) for k in entry.secondary]
            passed = _passes(entry.logic, hits)
            if passed is None:
                raise _Undecided(self._doubt(source, entry.secondary, window) or KEYS_LATE)
            if not passed:
                return None
            names = [entry.key_text(k, table) for k in entry.secondary]
            secondary = _secondary_text(entry.logic, names, hits)
        return Why("key", key=entry.key_text(primary, table), secondary=secondary)

    def _state(self, source: int, key_id: int, window: int, rec: dict[int, str]) -> bool | None:
        """Whether a key occurs in `window` (or in fired content); None if that is unknown."""
        if self.masks[source].get(key_id, 0) & window or key_id in rec:
            return True
        return None if self._doubt(source, (key_id,), window) else False

    def _decide(
        self,
        source: int,
        entry: CompiledEntry,
        ago: int,
        rec: dict[int, str],
        deadline: Deadline,
        undecided: dict[Key, str],
    ) -> Why | None:
        """Why the entry fires for that prompt, or None; undecided ones are noted, not fired."""
        try:
            why = Why("constant") if entry.constant else self._match(source, entry, ago, rec)
            if why is not None and self._admitted(source, entry, ago, deadline):
                return why
        except _Undecided as exc:
            undecided[source, entry.index] = exc.reason
        except OutOfTime:
            undecided[source, entry.index] = LATE
        return None

    def at(
        self, ago: int, skip: Container[int] = ()
    ) -> tuple[dict[Key, Candidate], dict[Key, str]]:
        """The entries the prompt built `ago` turns back fired, and those left undecided (why).

        The books in `skip` are left out (their time is up).
        """
        fired: dict[Key, Candidate] = {}
        undecided: dict[Key, str] = {}
        for source in range(len(self.books)):
            if source in skip:
                continue
            # As in SillyTavern, delay, chance and cooldown hold for constant entries too.
            entries = (*self.constants[source], *self.keyed[source], *self.doubtful[source])
            with self.budget.book(source) as deadline:
                for i, entry in enumerate(entries):
                    if deadline.passed():  # the rest stays undecided, without a look
                        undecided.update(((source, e.index), LATE) for e in entries[i:])
                        break
                    why = self._decide(source, entry, ago, {}, deadline, undecided)
                    if why is not None:
                        fired[source, entry.index] = Candidate(source, entry, why)
        unread = self._recurse(fired, list(fired.values()), ago, undecided)
        self._one_per_group(fired, ago)
        if ago == 0:
            undecided.update({k: RECURSION_LATE for k in unread if k in fired})
        return fired, undecided

    def _one_per_group(self, fired: dict[Key, Candidate], ago: int) -> None:
        """Drop the entries that lose their inclusion group (sticky ones keep their place)."""
        contenders = [Contender(k, c.entry, c.why.kind == "sticky") for k, c in fired.items()]
        for key in group_losers(contenders, self._newest(ago)):
            del fired[key]

    def _read(
        self, triggers: list[Candidate], rec: list[dict[int, str]], unread: set[Key]
    ) -> list[set[int]]:
        """The keys of each recursive book that the triggers' content holds, new to `rec`."""
        fresh: list[set[int]] = [set() for _ in self.books]
        readable = [t for t in triggers if not t.entry.prevent_recursion]
        for target, book in enumerate(self.books):
            if not book.recursive or not readable:
                continue
            with self.budget.book(target) as deadline:  # per level, not per trigger (clock reads)
                for trigger in readable:
                    scan = self.books[trigger.source].content_scan(trigger.entry)
                    hits = book.table.hits(scan, deadline)
                    if not hits.complete:
                        unread.add((trigger.source, trigger.entry.index))
                    for key_id in hits.found:
                        if key_id not in rec[target]:
                            rec[target][key_id] = trigger.entry.title
                            fresh[target].add(key_id)
        return fresh

    def _recurse(
        self,
        fired: dict[Key, Candidate],
        frontier: list[Candidate],
        ago: int,
        undecided: dict[Key, str],
    ) -> set[Key]:
        """Entries fired content names, level by level; returns the triggers not fully read."""
        rec: list[dict[int, str]] = [{} for _ in self.books]
        unread: set[Key] = set()
        size = sum(len(c.entry.entry.content) for c in fired.values())
        for level in range(1, self.config.max_recursion + 1):
            if self.char_limit is not None and size > self.char_limit:
                break
            fresh = self._read(frontier, rec, unread)
            frontier = []
            for target, book in enumerate(self.books):
                if not fresh[target]:
                    continue
                with self.budget.book(target) as deadline:
                    for key_id in sorted(fresh[target]):
                        for entry in book.by_key(key_id):
                            if (
                                (target, entry.index) in fired
                                or entry.exclude_recursion
                                or entry.index in self.shut[target]
                            ):
                                continue
                            if deadline.passed():
                                undecided[target, entry.index] = LATE
                                continue
                            why = self._decide(target, entry, ago, rec[target], deadline, undecided)
                            if why is None:
                                continue
                            via = rec[target].get(key_id, "?")
                            why = Why("recursion", why.key, why.secondary, level=level, via=via)
                            fired[target, entry.index] = Candidate(target, entry, why)
                            frontier.append(fired[target, entry.index])
                            size += len(entry.entry.content)
            if not frontier:
                break
        return unread

    def run(self) -> ScanResult:
        """The entries in for the next prompt: fired now, or fired recently and still sticky."""
        now, late = self.at(0)
        cut: dict[int, int] = {}  # book: the first look-back its time did not reach
        for ago in range(1, min(self.sticky, self.total - 1) + 1):
            for source in range(len(self.books)):
                if source not in cut and self.budget.spent(source):
                    cut[source] = ago
            if len(cut) == len(self.books):
                break
            past, unsure = self.at(ago, skip=cut)
            for key, candidate in past.items():
                # A cooldown entry's stay is its replayed timeline's, added below.
                if key in now or candidate.entry.cooldown:
                    continue
                lasts = self._lasts(candidate.entry)
                if ago <= lasts:
                    why = Why("sticky", ago=ago, left=lasts - ago, origin=candidate.why)
                    now[key] = Candidate(candidate.source, candidate.entry, why)
            for key, reason in unsure.items():
                entry = self._entry(key)
                if not entry.cooldown and ago <= self._lasts(entry) and reason != RECURSION_LATE:
                    late.setdefault(key, f"sticky look-back {ago} turn(s) back: {reason}")
        for source, ago in cut.items():
            self._cut_short(source, ago, now, late)
        for source, entry in self.cooling:
            key = (source, entry.index)
            with self.budget.book(source) as deadline:
                try:
                    timeline = self._timeline(source, entry, deadline)
                except _Undecided as exc:
                    late.setdefault(key, f"cooldown replay: {exc.reason}")
                    continue
                except OutOfTime:
                    late.setdefault(key, f"cooldown replay: {LATE}")
                    continue
            if timeline.ago and key not in now:
                why = Why("sticky", ago=timeline.ago, left=timeline.left, origin=timeline.why)
                now[key] = Candidate(source, entry, why)
        self._one_per_group(now, 0)
        candidates = sorted(
            now.values(), key=lambda c: (c.entry.entry.insertion_order, c.source, c.entry.index)
        )
        undecided_list = [
            Undecided(source, self._entry((source, index)), reason)
            for (source, index), reason in sorted(late.items())
            if (source, index) not in now or reason == RECURSION_LATE
        ]
        return ScanResult(candidates, undecided_list)

    def _cut_short(
        self, source: int, ago: int, now: dict[Key, Candidate], late: dict[Key, str]
    ) -> None:
        """Note the entries the book's look-back from `ago` prompts back on could have kept."""
        reason = f"sticky look-back {ago} turn(s) back and beyond: {LATE}"
        for entry in (*self.constants[source], *self.keyed[source], *self.doubtful[source]):
            key = (source, entry.index)
            if key not in now and not entry.cooldown and ago <= self._lasts(entry):
                late.setdefault(key, reason)

    def _entry(self, key: Key) -> CompiledEntry:
        return self.books[key[0]].compiled(key[1])


def scan_books(
    books: Sequence[CompiledBook],
    turns: Sequence[str],
    config: LoreConfig,
    char_limit: int | None = None,
    scene_turns: int | None = None,
    speaker: str | None = None,
) -> ScanResult:
    """What fires after `turns` (oldest first), in insertion order, and what was left undecided.

    Recursion stops once the fired content passes `char_limit`, as SillyTavern stops it once
    the budget overflows: a book whose entries all name each other cannot run away.
    `scene_turns` (default: how many `turns` there are) is what entries' `delay` counts.
    `speaker` is who speaks in the prompt (None: nobody, as in the speaker choice); entries
    whose character filter does not admit them are left out.
    CPU-bound up to the config's time budget: run it in a worker thread.
    """
    if not books:
        return ScanResult([], [])
    return _Scan(books, turns, config, char_limit, scene_turns, speaker).run()


def scan_lore(
    books: Sequence[CompiledBook],
    turns: Sequence[str],
    config: LoreConfig,
    char_limit: int | None = None,
    scene_turns: int | None = None,
    speaker: str | None = None,
) -> list[Candidate]:
    """The entries of `books` that fire after `turns` (see `scan_books`)."""
    return scan_books(books, turns, config, char_limit, scene_turns, speaker).candidates
