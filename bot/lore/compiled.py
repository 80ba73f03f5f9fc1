"""A lorebook made ready for scanning: keys indexed, entries indexed by their keys.

Building one reads every entry of a book (up to thousands of keys and megabytes of content):
callers build it in a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from bot.prompts.macros import MacroCount, count_macros

from .budget import breathe
from .character_filter import CharacterFilter, fold
from .keys import KeySpec, KeyTable, ScanText
from .model import Logic, Lorebook, LoreEntry, Placement, Role

__all__ = ["CompiledBook", "CompiledEntry", "LoreCache"]


@dataclass(frozen=True)
class CompiledEntry:
    """An entry with its keys as ids of its book's key table, and its settings resolved."""

    index: int
    entry: LoreEntry
    primary: tuple[int, ...]
    secondary: tuple[int, ...]
    logic: Logic
    placement: Placement
    depth: int
    role: Role
    scan_depth: int | None
    sticky: int | None
    prevent_recursion: bool
    exclude_recursion: bool
    # Resolved once: activation reads them for every matching entry on every prompt.
    chance: float
    delay: int | None
    cooldown: int
    # Read per fired entry on every pass, so a hostile file's megabyte of comment or group names
    # is read once here rather than on every prompt.
    title: str
    groups: tuple[str, ...]
    macros: MacroCount  # what resolving `{{char}}`/`{{user}}` in the content would cost
    only: CharacterFilter | None = None  # the characters whose prompts it may go into

    @property
    def constant(self) -> bool:
        return bool(self.entry.constant)

    def key_text(self, key_id: int, table: KeyTable) -> str:
        """The key as written, for reports."""
        return table.texts[key_id]


def _ids(table: KeyTable, entry: LoreEntry, keys: tuple[str, ...]) -> tuple[int, ...]:
    case, whole, use_regex = entry.matches_case, entry.whole_words, bool(entry.use_regex)
    found = (table.add(KeySpec(key, case, whole, use_regex)) for key in keys)
    return tuple(dict.fromkeys(k for k in found if k is not None))


class CompiledBook:
    """A book's live entries and key table; built once per book version."""

    def __init__(self, book: Lorebook, version: str | None = None) -> None:
        self.book = book
        self.version = version  # which stored book (and revision) this is, if it is stored
        self.name = book.name or "lorebook"
        self.table = KeyTable()
        self.recursive = book.recursive_scanning is not False
        self.entries: list[CompiledEntry] = []
        by_key: dict[int, list[int]] = defaultdict(list)  # entry indexes, by any of their keys
        by_primary: dict[int, list[int]] = defaultdict(list)
        for index, entry in enumerate(book.entries):
            if index % 64 == 0:
                breathe()  # built in a worker thread: the event loop keeps the GIL in reach
            # Disabled and empty entries never fire (V3: an empty content adds nothing).
            if not entry.enabled or not entry.content.strip() or entry.placement == "outlet":
                continue
            primary = _ids(self.table, entry, entry.keys)
            secondary = _ids(self.table, entry, entry.secondary_keys or ())
            compiled = CompiledEntry(
                index=index,
                entry=entry,
                primary=primary,
                secondary=secondary if entry.needs_secondary else (),
                logic=entry.logic,
                placement=entry.placement,
                depth=entry.depth,
                role=entry.role,
                scan_depth=entry.scan_depth,
                sticky=entry.sticky,
                prevent_recursion=entry.prevent_recursion,
                exclude_recursion=entry.exclude_recursion,
                chance=entry.chance,
                delay=entry.delay,
                cooldown=entry.cooldown or 0,
                title=entry.title,
                groups=entry.groups,
                macros=count_macros(entry.content.strip()),
                only=entry.characters,
            )
            self.entries.append(compiled)
            for key_id in {*compiled.primary, *compiled.secondary}:
                by_key[key_id].append(index)
            for key_id in compiled.primary:
                by_primary[key_id].append(index)
        self.table.freeze()
        # Tuples of indexes, not lists of entries: the garbage collector skips them (keys.py).
        self._by_key = {k: tuple(v) for k, v in by_key.items()}
        self._by_primary = {k: tuple(v) for k, v in by_primary.items()}
        self._by_index = {e.index: e for e in self.entries}
        self.constants = [e for e in self.entries if e.constant]
        self._filtered = tuple(e.index for e in self.entries if e.only is not None)
        self.cooldowns = [e for e in self.entries if e.cooldown]
        self._scans: dict[int, ScanText] = {}
        self.scan_depth = book.scan_depth
        self.deepest = max((e.scan_depth or 0 for e in self.entries), default=0)
        self.stickiest = max((e.sticky or 0 for e in self.entries), default=0)

    def compiled(self, index: int) -> CompiledEntry:
        """The live entry at `index` of the book."""
        return self._by_index[index]

    def shut(self, speaker: str | None) -> frozenset[int]:
        """Indexes of the entries whose character filter keeps them from `speaker`'s prompt."""
        if not self._filtered:
            return frozenset()
        folded = None if speaker is None else fold(speaker)
        shut = set()
        for index in self._filtered:
            only = self._by_index[index].only
            if only is not None and not only.admits_folded(folded):
                shut.add(index)
        return frozenset(shut)

    def by_key(self, key_id: int) -> list[CompiledEntry]:
        """The entries with the key among their primary or secondary keys."""
        return [self._by_index[i] for i in self._by_key.get(key_id, ())]

    def by_primary(self, key_id: int) -> list[CompiledEntry]:
        """The entries with the key among their primary keys."""
        return [self._by_index[i] for i in self._by_primary.get(key_id, ())]

    def content_scan(self, entry: CompiledEntry) -> ScanText:
        """The entry's content split into words, for recursion (kept: contents never change)."""
        found = self._scans.get(entry.index)
        if found is None:
            found = self._scans[entry.index] = ScanText(entry.entry.content)
        return found


class LoreCache:
    """Compiled books by version key, least recently used first out."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._books: OrderedDict[str, CompiledBook] = OrderedDict()

    def find(self, version: str) -> CompiledBook | None:
        """The compiled book for `version`, if it is cached."""
        found = self._books.get(version)
        if found is not None:
            self._books.move_to_end(version)
        return found

    def add(self, version: str, book: Lorebook) -> CompiledBook:
        """Compile `book` and keep it as `version`."""
        return self.put(CompiledBook(book, version))

    def put(self, compiled: CompiledBook) -> CompiledBook:
        """Keep a book compiled elsewhere (in a worker thread) under its version."""
        assert compiled.version is not None
        self._books[compiled.version] = compiled
        while len(self._books) > self.capacity:
            self._books.popitem(last=False)
        return compiled
