"""Which lore entries fire for the next prompt, and why (DESIGN 14).

An entry fires when one of its keys occurs in the last `scan_depth` turns (its secondary keys
combined by its selective logic), when it is constant, or when the content of an entry that
fired names it (recursion, bounded). To keep the prompt prefix stable, an entry that fired for
one of the last `sticky` prompts stays in. That history is not stored anywhere: the prompt built
`j` turns ago saw the turns before the newest `j`, so activation simply runs again on that
window. Every turn's key hits are computed once and kept as bit masks over the turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from .compiled import CompiledBook, CompiledEntry
from .keys import ScanText
from .model import Logic

__all__ = ["Candidate", "LoreConfig", "Why", "scan_lore"]

MAX_SCAN_DEPTH = 64  # turns; a hostile book's scan depth must not make every prompt scan them all

WhyKind = Literal["constant", "key", "recursion", "sticky"]
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


@dataclass(frozen=True)
class Why:
    """The reason an entry fired."""

    kind: WhyKind
    key: str | None = None
    secondary: str | None = None
    level: int = 0
    via: str | None = None
    ago: int = 0
    left: int = 0
    origin: Why | None = None

    def describe(self) -> str:
        """One line for reports, e.g. `key "fog" (AND ANY: "pier")`."""
        if self.kind == "constant":
            return "constant"
        if self.kind == "sticky":
            first = self.origin.describe() if self.origin else "?"
            return f"sticky: fired {self.ago} turn(s) ago by {first}; {self.left} more turn(s)"
        text = f'key "{self.key}"'
        if self.secondary:
            text += f" ({self.secondary})"
        if self.kind == "recursion":
            text += f", recursion level {self.level} from {self.via}"
        return text


@dataclass(frozen=True)
class Candidate:
    """An entry that fired, before the token budget has its say."""

    source: int
    entry: CompiledEntry
    why: Why


def _window(n: int, ago: int, depth: int) -> int:
    """Bit mask of the turns the prompt built `ago` turns back scanned (`depth` turns)."""
    hi = n - ago
    lo = max(0, hi - depth)
    return ((1 << (hi - lo)) - 1) << lo if hi > lo else 0


def _secondary(logic: Logic, names: list[str], hits: list[bool]) -> str | None:
    """The secondary-key verdict as report text, or None when the entry must not fire."""
    label = logic.replace("_", " ").upper()
    if logic == "and_any" and any(hits):
        return f'{label}: "{names[hits.index(True)]}"'
    if logic == "and_all" and all(hits):
        return f"{label}: " + ", ".join(f'"{n}"' for n in names)
    if logic == "not_any" and not any(hits):
        return f"{label}: none of " + ", ".join(f'"{n}"' for n in names)
    if logic == "not_all" and not all(hits):
        return f'{label}: "{names[hits.index(False)]}" absent'
    return None


class _Scan:
    """One activation: the turns' key hits per book, then activation at each past position."""

    def __init__(
        self, books: Sequence[CompiledBook], turns: Sequence[str], config: LoreConfig
    ) -> None:
        self.books = books
        self.config = config
        self.total = len(turns)
        self.sticky = max((max(config.sticky, b.stickiest) for b in books), default=0)
        span = self.sticky + max(
            (min(max(self._depth(b), b.deepest), MAX_SCAN_DEPTH) for b in books), default=0
        )
        texts = [ScanText(t) for t in turns[max(0, len(turns) - span) :]]
        self.n = len(texts)
        self.masks: list[dict[int, int]] = []
        self.keyed: list[list[CompiledEntry]] = []
        for book in books:
            masks: dict[int, int] = {}
            for i, text in enumerate(texts):
                for key_id in book.table.hits(text):
                    masks[key_id] = masks.get(key_id, 0) | 1 << i
            self.masks.append(masks)
            entries = {e.index: e for k in masks for e in book.by_key.get(k, ())}
            self.keyed.append([e for _, e in sorted(entries.items()) if not e.constant])
        self._contents: dict[str, ScanText] = {}

    def _depth(self, book: CompiledBook) -> int:
        return book.scan_depth if book.scan_depth is not None else self.config.scan_depth

    def _match(
        self, source: int, entry: CompiledEntry, ago: int, rec: dict[int, str]
    ) -> Why | None:
        book = self.books[source]
        depth = min(entry.scan_depth or self._depth(book), MAX_SCAN_DEPTH)
        window, masks = _window(self.n, ago, depth), self.masks[source]

        def hit(key_id: int) -> bool:
            return bool(masks.get(key_id, 0) & window) or key_id in rec

        primary = next((k for k in entry.primary if hit(k)), None)
        if primary is None:
            return None
        secondary = None
        if entry.secondary:
            names = [entry.key_text(k, book.table) for k in entry.secondary]
            secondary = _secondary(entry.logic, names, [hit(k) for k in entry.secondary])
            if secondary is None:
                return None
        return Why("key", key=entry.key_text(primary, book.table), secondary=secondary)

    def at(self, ago: int) -> dict[tuple[int, int], Candidate]:
        """Every entry the prompt built `ago` turns back fired, with recursion."""
        fired: dict[tuple[int, int], Candidate] = {}
        for source, book in enumerate(self.books):
            for entry in book.constants:
                fired[source, entry.index] = Candidate(source, entry, Why("constant"))
            for entry in self.keyed[source]:
                why = self._match(source, entry, ago, {})
                if why is not None:
                    fired[source, entry.index] = Candidate(source, entry, why)
        self._recurse(fired, list(fired.values()), ago)
        return fired

    def _recurse(
        self, fired: dict[tuple[int, int], Candidate], frontier: list[Candidate], ago: int
    ) -> None:
        rec: list[dict[int, str]] = [{} for _ in self.books]
        for level in range(1, self.config.max_recursion + 1):
            triggers = [c for c in frontier if not c.entry.entry.prevent_recursion]
            fresh: list[set[int]] = [set() for _ in self.books]
            for trigger in triggers:
                content = trigger.entry.entry.content
                scan = self._contents.get(content) or self._contents.setdefault(
                    content, ScanText(content)
                )
                for target, book in enumerate(self.books):
                    for key_id in book.table.hits(scan):
                        if key_id not in rec[target]:
                            rec[target][key_id] = trigger.entry.entry.title
                            fresh[target].add(key_id)
            frontier = []
            for target, book in enumerate(self.books):
                if not book.recursive:
                    continue
                for key_id in sorted(fresh[target]):
                    for entry in book.by_key.get(key_id, ()):
                        if (target, entry.index) in fired or entry.entry.exclude_recursion:
                            continue
                        why = self._match(target, entry, ago, rec[target])
                        if why is None:
                            continue
                        via = rec[target].get(key_id, "?")
                        why = replace(why, kind="recursion", level=level, via=via)
                        fired[target, entry.index] = Candidate(target, entry, why)
                        frontier.append(fired[target, entry.index])
            if not frontier:
                return

    def run(self) -> list[Candidate]:
        """The entries in for the next prompt: fired now, or fired recently and still sticky."""
        now = self.at(0)
        for ago in range(1, min(self.sticky, self.total - 1) + 1):
            for key, past in self.at(ago).items():
                if key in now:
                    continue
                entry = past.entry
                lasts = entry.sticky if entry.sticky is not None else self.config.sticky
                if ago <= lasts:
                    why = Why("sticky", ago=ago, left=lasts - ago, origin=past.why)
                    now[key] = Candidate(past.source, entry, why)
        return sorted(
            now.values(), key=lambda c: (c.entry.entry.insertion_order, c.source, c.entry.index)
        )


def scan_lore(
    books: Sequence[CompiledBook], turns: Sequence[str], config: LoreConfig
) -> list[Candidate]:
    """The entries of `books` that fire after `turns` (oldest first), in insertion order."""
    return _Scan(books, turns, config).run() if books else []
