"""Which lore entries fire for the next prompt, and why.

An entry fires when one of its keys occurs in the last `scan_depth` turns (its secondary keys
combined by its selective logic), when it is constant, or when the content of an entry that
fired names it (recursion, bounded). To keep the prompt prefix stable, an entry that fired for
one of the last `sticky` prompts stays in. That history is not stored anywhere: the prompt built
`j` turns ago saw the turns before the newest `j`, so activation simply runs again on that
window. An entry with a cooldown replays its last prompts the same way (see cooldown.py).
Every turn's key hits are computed once and kept as bit masks over the turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .compiled import CompiledBook, CompiledEntry
from .cooldown import Timeline, replay, replay_horizon
from .keys import ScanText
from .model import Logic
from .reasons import Candidate, Why
from .rules import Contender, admitted, group_losers

__all__ = ["LoreConfig", "scan_lore"]

MAX_SCAN_DEPTH = 64  # turns; a hostile book's scan depth must not make every prompt scan them all

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


def _window(n: int, ago: int, depth: int) -> int:
    """Bit mask of the turns the prompt built `ago` turns back scanned (`depth` turns)."""
    hi = n - ago
    lo = max(0, hi - depth)
    return ((1 << (hi - lo)) - 1) << lo if hi > lo else 0


def _passes(logic: Logic, hits: list[bool]) -> bool:
    """Whether the secondary keys' hits satisfy the selective logic."""
    if logic == "and_any":
        return any(hits)
    if logic == "and_all":
        return all(hits)
    if logic == "not_any":
        return not any(hits)
    return not all(hits)


def _secondary_text(logic: Logic, names: list[str], hits: list[bool]) -> str:
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
    ) -> None:
        self.books = books
        self.config = config
        self.char_limit = char_limit
        self.total = len(turns)
        self.scene_turns = len(turns) if scene_turns is None else scene_turns
        self.sticky = max((max(config.sticky, b.stickiest) for b in books), default=0)
        self.cooling = [(s, e) for s, b in enumerate(books) for e in b.cooldowns]
        self.replay = max((self._horizon(e) for _, e in self.cooling), default=0)
        span = max(self.sticky, self.replay) + max(
            (min(max(self._depth(b), b.deepest), MAX_SCAN_DEPTH) for b in books), default=0
        )
        self.raw = list(turns[max(0, len(turns) - span) :])
        texts = [ScanText(t) for t in self.raw]
        self.n = len(texts)
        self.masks: list[dict[int, int]] = []
        self.keyed: list[list[CompiledEntry]] = []
        for book in books:
            masks: dict[int, int] = {}
            for i, text in enumerate(texts):
                for key_id in book.table.hits(text):
                    masks[key_id] = masks.get(key_id, 0) | 1 << i
            self.masks.append(masks)
            # Only a primary key can make an entry fire; secondary keys merely filter.
            entries = {e.index: e for k in masks for e in book.by_primary.get(k, ())}
            self.keyed.append([e for _, e in sorted(entries.items()) if not e.constant])
        self._windows: dict[tuple[int, int], int] = {}
        self._timelines: dict[tuple[int, int], Timeline[Why]] = {}

    def _newest(self, ago: int) -> str:
        """The newest turn the prompt built `ago` turns back saw (it seeds the draws)."""
        index = self.n - 1 - ago
        return self.raw[index] if index >= 0 else ""

    def _admitted(self, source: int, entry: CompiledEntry, ago: int) -> bool:
        if self._cooling(source, entry, ago):
            return False
        book = self.books[source].name
        return admitted(entry, book, self._newest(ago), self.scene_turns - ago)

    def _cooling(self, source: int, entry: CompiledEntry, ago: int) -> bool:
        """Whether the next prompt falls in the entry's cooldown (past prompts: replayed)."""
        return ago == 0 and entry.cooldown > 0 and self._timeline(source, entry).cooling

    def _lasts(self, entry: CompiledEntry) -> int:
        """Prompts the entry stays in after it fired."""
        return entry.sticky if entry.sticky is not None else self.config.sticky

    def _horizon(self, entry: CompiledEntry) -> int:
        return replay_horizon(self._lasts(entry), entry.cooldown)

    def _timeline(self, source: int, entry: CompiledEntry) -> Timeline[Why]:
        """Where a cooldown entry stands for the next prompt, replayed from the past ones."""
        found = self._timelines.get((source, entry.index))
        if found is None:

            def fires(ago: int) -> Why | None:
                why = Why("constant") if entry.constant else self._match(source, entry, ago, {})
                return why if why is not None and self._admitted(source, entry, ago) else None

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

    def _match(
        self, source: int, entry: CompiledEntry, ago: int, rec: dict[int, str]
    ) -> Why | None:
        """Why `entry` fires for the prompt built `ago` turns back (with `rec` from content)."""
        window, masks = self._window(source, entry, ago), self.masks[source]
        primary = next((k for k in entry.primary if masks.get(k, 0) & window or k in rec), None)
        if primary is None:
            return None
        table = self.books[source].table
        secondary = None
        if entry.secondary:
            hits = [bool(masks.get(k, 0) & window) or k in rec for k in entry.secondary]
            if not _passes(entry.logic, hits):
                return None
            names = [entry.key_text(k, table) for k in entry.secondary]
            secondary = _secondary_text(entry.logic, names, hits)
        return Why("key", key=entry.key_text(primary, table), secondary=secondary)

    def at(self, ago: int) -> dict[tuple[int, int], Candidate]:
        """Every entry the prompt built `ago` turns back fired, with recursion."""
        fired: dict[tuple[int, int], Candidate] = {}
        for source, book in enumerate(self.books):
            for entry in book.constants:
                # As in SillyTavern, delay, chance and cooldown hold for constant entries too.
                if self._admitted(source, entry, ago):
                    fired[source, entry.index] = Candidate(source, entry, Why("constant"))
            for entry in self.keyed[source]:
                why = self._match(source, entry, ago, {})
                if why is not None and self._admitted(source, entry, ago):
                    fired[source, entry.index] = Candidate(source, entry, why)
        self._recurse(fired, list(fired.values()), ago)
        self._one_per_group(fired, ago)
        return fired

    def _one_per_group(self, fired: dict[tuple[int, int], Candidate], ago: int) -> None:
        """Drop the entries that lose their inclusion group (sticky ones keep their place)."""
        contenders = [Contender(k, c.entry, c.why.kind == "sticky") for k, c in fired.items()]
        for key in group_losers(contenders, self._newest(ago)):
            del fired[key]

    def _recurse(
        self, fired: dict[tuple[int, int], Candidate], frontier: list[Candidate], ago: int
    ) -> None:
        rec: list[dict[int, str]] = [{} for _ in self.books]
        size = sum(len(c.entry.entry.content) for c in fired.values())
        for level in range(1, self.config.max_recursion + 1):
            if self.char_limit is not None and size > self.char_limit:
                return
            fresh: list[set[int]] = [set() for _ in self.books]
            for trigger in frontier:
                if trigger.entry.prevent_recursion:
                    continue
                scan = self.books[trigger.source].content_scan(trigger.entry)
                for target, book in enumerate(self.books):
                    for key_id in book.table.hits(scan):
                        if key_id not in rec[target]:
                            rec[target][key_id] = trigger.entry.title
                            fresh[target].add(key_id)
            frontier = []
            for target, book in enumerate(self.books):
                if not book.recursive:
                    continue
                for key_id in sorted(fresh[target]):
                    for entry in book.by_key.get(key_id, ()):
                        if (target, entry.index) in fired or entry.exclude_recursion:
                            continue
                        why = self._match(target, entry, ago, rec[target])
                        if why is None or not self._admitted(target, entry, ago):
                            continue
                        via = rec[target].get(key_id, "?")
                        why = Why("recursion", why.key, why.secondary, level=level, via=via)
                        fired[target, entry.index] = Candidate(target, entry, why)
                        frontier.append(fired[target, entry.index])
                        size += len(entry.entry.content)
            if not frontier:
                return

    def run(self) -> list[Candidate]:
        """The entries in for the next prompt: fired now, or fired recently and still sticky."""
        now = self.at(0)
        for ago in range(1, min(self.sticky, self.total - 1) + 1):
            for key, past in self.at(ago).items():
                # A cooldown entry's stay is its replayed timeline's, added below.
                if key in now or past.entry.cooldown:
                    continue
                lasts = self._lasts(past.entry)
                if ago <= lasts:
                    why = Why("sticky", ago=ago, left=lasts - ago, origin=past.why)
                    now[key] = Candidate(past.source, past.entry, why)
        for source, entry in self.cooling:
            timeline = self._timeline(source, entry)
            if timeline.ago and (source, entry.index) not in now:
                why = Why("sticky", ago=timeline.ago, left=timeline.left, origin=timeline.why)
                now[source, entry.index] = Candidate(source, entry, why)
        self._one_per_group(now, 0)
        return sorted(
            now.values(), key=lambda c: (c.entry.entry.insertion_order, c.source, c.entry.index)
        )


def scan_lore(
    books: Sequence[CompiledBook],
    turns: Sequence[str],
    config: LoreConfig,
    char_limit: int | None = None,
    scene_turns: int | None = None,
) -> list[Candidate]:
    """The entries of `books` that fire after `turns` (oldest first), in insertion order.

    Recursion stops once the fired content passes `char_limit`, as SillyTavern stops it once
    the budget overflows: a book whose entries all name each other cannot run away.
    `scene_turns` (default: how many `turns` there are) is what entries' `delay` counts.
    """
    return _Scan(books, turns, config, char_limit, scene_turns).run() if books else []
