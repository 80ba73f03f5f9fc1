"""A cache-friendly layout of the lore that fired: the system block changes only in coarse steps.

The spec puts `before_char`/`after_char` lore in the system block, at the very start of the
prompt. An entry that starts or stops firing there changes the prompt's first tokens, and the
whole history is evaluated again on the next round. So between window moves a scene's layout
keeps the system block's entries as they were (*held*, even once they stop firing), and an entry
that starts firing joins as a block of its own after the newest turn and stays there
(*anchored*): consecutive prompts then only grow at the end. When the window moves (the history
is evaluated again anyway), when the scene's books change, or when held and anchored lore would
outgrow the budget, the layout starts over from the spec's placement. A layout outlives the
speaker: an entry limited to some characters keeps its place in it, but goes only into the
prompts of the characters its filter admits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .placement import FiredEntry, LoreActivation, LoreSource
from .reasons import Why

__all__ = ["Anchor", "LoreLayout", "LoreLayouts"]

_IN_SYSTEM = ("before_char", "after_char")


def _key(entry: FiredEntry) -> tuple[int, int]:
    return entry.source, entry.index


def _same_books(a: Sequence[LoreSource], b: Sequence[LoreSource]) -> bool:
    """Whether both are the same books (by stored version, else by object) for the same names."""
    return len(a) == len(b) and all(
        x.char == y.char
        and (x.book is y.book or (x.book.version is not None and x.book.version == y.book.version))
        for x, y in zip(a, b, strict=True)
    )


@dataclass(frozen=True)
class Anchor:
    """Entries that started firing on the prompt after turn `after_seq`, placed right after it."""

    after_seq: int
    entries: tuple[FiredEntry, ...]


@dataclass(frozen=True)
class LoreLayout:
    """Where a scene's lore goes until its window moves."""

    sources: tuple[LoreSource, ...]
    held: tuple[FiredEntry, ...]
    anchors: tuple[Anchor, ...] = ()
    start_seq: int | None = None  # the first history turn of the window this layout is for

    @classmethod
    def fresh(cls, sources: Sequence[LoreSource], lore: LoreActivation) -> LoreLayout:
        """The spec's placement: every system-block entry that fired is in the system block."""
        return cls(tuple(sources), tuple(e for e in lore.fired if e.placement in _IN_SYSTEM))

    def following(
        self, sources: Sequence[LoreSource], lore: LoreActivation, last_seq: int
    ) -> LoreLayout | None:
        """This layout with what started firing anchored after `last_seq`; None to start over."""
        if not _same_books(self.sources, sources):
            return None
        # Anchors after `last_seq` belong to later turns than this prompt sees (a swipe).
        anchors = tuple(a for a in self.anchors if a.after_seq <= last_seq)
        placed = {_key(e) for e in self.held} | {_key(e) for a in anchors for e in a.entries}
        new = tuple(e for e in lore.fired if e.placement in _IN_SYSTEM and _key(e) not in placed)
        kept = (*self.held, *(e for a in anchors for e in a.entries), *new)
        at_depth = (e for e in lore.fired if e.placement not in _IN_SYSTEM)
        if sum(e.tokens for e in (*kept, *at_depth)) > lore.budget:
            return None
        if new and anchors and anchors[-1].after_seq == last_seq:
            anchors = (*anchors[:-1], Anchor(last_seq, (*anchors[-1].entries, *new)))
        elif new:
            anchors = (*anchors, Anchor(last_seq, new))
        return replace(self, anchors=anchors)

    def placed(self, lore: LoreActivation, kept_seqs: Sequence[int]) -> LoreActivation:
        """The lore of the prompt whose history turns are `kept_seqs` (oldest first)."""
        firing = {_key(e): e for e in lore.fired}
        speaker = lore.speaker
        held = tuple(
            _marked(e, firing.get(_key(e)), anchored=False)
            for e in self.held
            if _admitted(e, speaker)
        )
        anchored = tuple(
            replace(
                _marked(e, firing.get(_key(e)), anchored=True),
                placement="at_depth",
                depth=sum(1 for seq in kept_seqs if seq > anchor.after_seq),
                role="system",
                anchor=anchor.after_seq,
            )
            for anchor in self.anchors
            for e in anchor.entries
            if _admitted(e, speaker)
        )
        at_depth = tuple(e for e in lore.fired if e.placement not in _IN_SYSTEM)
        fired = (*held, *anchored, *at_depth)
        placed = {_key(e) for e in fired}
        dropped = tuple(e for e in lore.dropped if _key(e) not in placed)
        used = sum(e.tokens for e in fired)
        return replace(lore, fired=fired, dropped=dropped, used=used)


def _admitted(entry: FiredEntry, speaker: str | None) -> bool:
    """Whether an entry that fired for an earlier prompt may go into `speaker`'s."""
    return entry.only is None or entry.only.admits(speaker)


def _marked(entry: FiredEntry, firing: FiredEntry | None, *, anchored: bool) -> FiredEntry:
    """`entry` with why it is in this prompt: firing now, anchored, or held from before."""
    if firing is None:
        return replace(entry, why=Why("held", origin=entry.why))
    if anchored:
        return replace(entry, why=Why("anchored", origin=firing.why))
    return replace(entry, why=firing.why)


class LoreLayouts:
    """The newest layout of each recently played scene (only in memory: a restart starts over)."""

    def __init__(self, capacity: int = 512) -> None:
        self._layouts: OrderedDict[int, LoreLayout] = OrderedDict()
        self.capacity = capacity

    def get(self, scene_id: int) -> LoreLayout | None:
        """The layout of the scene's last prompt, if it is remembered."""
        return self._layouts.get(scene_id)

    def put(self, scene_id: int, layout: LoreLayout) -> None:
        """Remember `layout` for the scene's next prompt."""
        self._layouts[scene_id] = layout
        self._layouts.move_to_end(scene_id)
        while len(self._layouts) > self.capacity:
            self._layouts.popitem(last=False)
