"""From fired entries to prompt text: the token budget, macros, and where each entry goes.

Macros are resolved only in the entries the budget keeps: each entry's size once resolved is
known from its macro counts, so an entry that would expand past any budget is dropped without
ever being built, and what is built is what the tokens are counted on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from bot.domain import LoreInsert, LoreRole
from bot.prompts.macros import resolve_macros
from bot.prompts.segments import Prompt

from .activation import LoreConfig, scan_books
from .character_filter import CharacterFilter
from .compiled import CompiledBook
from .model import Placement
from .reasons import Candidate, Why

__all__ = [
    "FiredEntry",
    "LoreActivation",
    "LoreSource",
    "SceneLore",
    "Unevaluated",
    "activate_lore",
    "fit_budget",
]

CountMany = Callable[[list[Prompt]], Awaitable[list[int]]]
# No tokenizer packs more than this many characters into a token on ordinary text: entries past
# budget x this many characters cannot fit and are neither recursed into nor counted.
CHARS_PER_TOKEN_MAX = 6
_ROLE_ORDER: dict[LoreRole, int] = {"system": 0, "user": 1, "assistant": 2}


@dataclass(frozen=True)
class LoreSource:
    """A book active in a scene, and who `{{char}}` is in its entries."""

    book: CompiledBook
    char: str


@dataclass(frozen=True)
class SceneLore:
    """A scene's lore: its books, who `{{user}}` is, and the scanning settings."""

    sources: tuple[LoreSource, ...] = ()
    user: str = "you"
    config: LoreConfig = field(default_factory=LoreConfig)
    refused: tuple[str, ...] = ()  # books left out for breaking the caps, one line each


@dataclass(frozen=True, slots=True)
class Unevaluated:
    """An entry the lore time budget left undecided: its book, its title, what was not done."""

    book: str
    title: str
    reason: str


@dataclass(frozen=True, slots=True)
class FiredEntry:
    """An entry that fired: what it says (macros resolved), why, and what it costs."""

    book: str
    title: str
    why: Why
    content: str
    tokens: int
    placement: Placement
    depth: int
    role: LoreRole
    source: int = 0
    index: int = 0
    rank: tuple[float, float] = (0.0, 0.0)
    anchor: int | None = None  # anchored after this turn (`bot.lore.stable`): a block of its own
    only: CharacterFilter | None = None  # the characters whose prompts it may go into


@dataclass(frozen=True)
class LoreActivation:
    """The entries in the next prompt (in insertion order) and those the budget dropped."""

    fired: tuple[FiredEntry, ...] = ()
    dropped: tuple[FiredEntry, ...] = ()
    budget: int = 0
    used: int = 0
    unevaluated: tuple[Unevaluated, ...] = ()
    refused: tuple[str, ...] = ()
    speaker: str | None = None  # whose prompt this is: entries kept from them stay out
    inserts: tuple[LoreInsert, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        # Anchored entries keep a block per anchor, so their blocks (and token counts) do not
        # depend on the depth they end up at.
        groups: dict[tuple[int, LoreRole, int], list[str]] = {}
        for entry in self.fired:
            if entry.placement == "at_depth":
                anchor = -1 if entry.anchor is None else entry.anchor
                groups.setdefault((entry.depth, entry.role, anchor), []).append(entry.content)
        ordered = sorted(
            groups.items(), key=lambda item: (-item[0][0], _ROLE_ORDER[item[0][1]], item[0][2])
        )
        inserts = tuple(LoreInsert(d, role, "\n".join(texts)) for (d, role, _), texts in ordered)
        object.__setattr__(self, "inserts", inserts)

    def _texts(self, placement: Placement) -> tuple[str, ...]:
        return tuple(e.content for e in self.fired if e.placement == placement)

    @property
    def before(self) -> tuple[str, ...]:
        """Entries for before the character definitions."""
        return self._texts("before_char")

    @property
    def after(self) -> tuple[str, ...]:
        """Entries for after the character definitions."""
        return self._texts("after_char")


def _drop(entries: Iterable[FiredEntry], limit: int, dropped: set[tuple[int, int]]) -> None:
    """Drop the lowest priority, then the lowest insertion order, until the rest fit `limit`."""
    alive = [e for e in entries if (e.source, e.index) not in dropped]
    total = sum(e.tokens for e in alive)
    # Ties go to the entry listed later, so the same set of entries always keeps the same ones.
    for entry in sorted(alive, key=lambda e: (*e.rank, -e.source, -e.index)):
        if total <= limit:
            return
        dropped.add((entry.source, entry.index))
        total -= entry.tokens


def fit_budget(
    entries: Sequence[FiredEntry], budget: int, book_budgets: dict[int, int]
) -> tuple[list[FiredEntry], list[FiredEntry]]:
    """(kept, dropped): each book within its own token_budget, then all within `budget`."""
    dropped: set[tuple[int, int]] = set()
    for source, limit in book_budgets.items():
        _drop((e for e in entries if e.source == source), limit, dropped)
    _drop(entries, budget, dropped)
    kept = [e for e in entries if (e.source, e.index) not in dropped]
    return kept, [e for e in entries if (e.source, e.index) in dropped]


def _pretrim(
    candidates: list[Candidate], sources: Sequence[LoreSource], user: str, limit: int
) -> tuple[list[Candidate], list[Candidate]]:
    """(to resolve and count, dropped): the best-ranked entries up to `limit` characters.

    Sizes are those after macros, taken from the counts, so nothing is built for an entry that
    cannot fit: one past `limit` on its own is dropped unresolved. Entries far past any budget
    would be dropped anyway; not tokenizing them keeps a book whose every entry fires as cheap
    as one whose entries fit.
    """
    order = sorted(
        candidates,
        key=lambda c: (*(-r for r in c.entry.entry.drop_rank), c.source, c.entry.index),
    )
    kept: set[tuple[int, int]] = set()
    size = 0
    for candidate in order:
        if size > limit:
            break
        length = candidate.entry.macros.length(char=sources[candidate.source].char, user=user)
        if length <= limit:
            kept.add((candidate.source, candidate.entry.index))
            size += length
    return (
        [c for c in candidates if (c.source, c.entry.index) in kept],
        [c for c in candidates if (c.source, c.entry.index) not in kept],
    )


def _fired(
    candidate: Candidate, sources: Sequence[LoreSource], user: str, *, resolve: bool
) -> FiredEntry:
    """The entry as the prompt gets it; `resolve` is False for one dropped unbuilt."""
    source = sources[candidate.source]
    compiled = candidate.entry
    entry = compiled.entry
    content = entry.content.strip()
    return FiredEntry(
        book=source.book.name,
        title=compiled.title,
        why=candidate.why,
        content=resolve_macros(content, char=source.char, user=user) if resolve else content,
        tokens=0,
        placement=compiled.placement,
        depth=compiled.depth,
        role=compiled.role,
        source=candidate.source,
        index=compiled.index,
        rank=entry.drop_rank,
        only=compiled.only,
    )


@dataclass(frozen=True)
class _Picked:
    """What the scan picked: entries to count, entries dropped unbuilt, entries undecided."""

    fired: list[FiredEntry]
    beyond: list[FiredEntry]
    unevaluated: tuple[Unevaluated, ...]


def _pick(
    sources: Sequence[LoreSource],
    turns: Sequence[str],
    user: str,
    config: LoreConfig,
    limit: int,
    scene_turns: int | None,
    speaker: str | None,
) -> _Picked:
    """Scan, then resolve macros in what can fit (CPU-bound: runs in a worker thread)."""
    books = [s.book for s in sources]
    result = scan_books(
        books, turns, config, char_limit=limit, scene_turns=scene_turns, speaker=speaker
    )
    kept, beyond = _pretrim(result.candidates, sources, user, limit)
    return _Picked(
        [_fired(c, sources, user, resolve=True) for c in kept],
        [_fired(c, sources, user, resolve=False) for c in beyond],
        tuple(
            Unevaluated(sources[u.source].book.name, u.entry.title, u.reason)
            for u in result.undecided
        ),
    )


async def activate_lore(
    sources: Sequence[LoreSource],
    turns: Sequence[str],
    *,
    user: str,
    config: LoreConfig,
    budget: int,
    count_many: CountMany,
    scene_turns: int | None = None,
    speaker: str | None = None,
) -> LoreActivation:
    """Scan, fit the budget, resolve macros and count tokens: the lore for the next prompt.

    `speaker` is who speaks in that prompt (None: nobody, as in the speaker choice): an entry
    limited to other characters, or kept from them, stays out. The scan runs in a worker thread
    within the config's time budget, so a hostile book costs the round at most that much time
    and never stalls the event loop.
    """
    picked = await asyncio.to_thread(
        _pick, sources, turns, user, config, budget * CHARS_PER_TOKEN_MAX, scene_turns, speaker
    )
    if not picked.fired:
        return LoreActivation(
            (), tuple(picked.beyond), budget, 0, picked.unevaluated, speaker=speaker
        )
    # One more token each for the line break that joins entries.
    counts = await count_many([Prompt.plain(e.content) for e in picked.fired])
    fired = [replace(e, tokens=n + 1) for e, n in zip(picked.fired, counts, strict=True)]
    book_budgets = {
        i: s.book.book.token_budget
        for i, s in enumerate(sources)
        if s.book.book.token_budget is not None
    }
    kept, dropped = fit_budget(fired, budget, book_budgets)
    return LoreActivation(
        tuple(kept),
        (*dropped, *picked.beyond),
        budget,
        sum(e.tokens for e in kept),
        picked.unevaluated,
        speaker=speaker,
    )
