"""From fired entries to prompt text: macros, the token budget, and where each entry goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from bot.domain import LoreInsert, LoreRole
from bot.prompts.macros import resolve_macros
from bot.prompts.segments import Prompt

from .activation import LoreConfig, scan_lore
from .compiled import CompiledBook
from .model import Placement
from .reasons import Candidate, Why

__all__ = [
    "FiredEntry",
    "LoreActivation",
    "LoreSource",
    "SceneLore",
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class LoreActivation:
    """The entries in the next prompt (in insertion order) and those the budget dropped."""

    fired: tuple[FiredEntry, ...] = ()
    dropped: tuple[FiredEntry, ...] = ()
    budget: int = 0
    used: int = 0
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


def _pretrim(entries: list[FiredEntry], limit: int) -> tuple[list[FiredEntry], list[FiredEntry]]:
    """(to count, dropped): only the best-ranked entries up to `limit` characters get counted.

    Entries far past any budget would be dropped anyway; not tokenizing them keeps a book
    whose every entry fires as cheap as one whose entries fit.
    """
    order = sorted(entries, key=lambda e: (-e.rank[0], -e.rank[1], e.source, e.index))
    kept: set[tuple[int, int]] = set()
    size = 0
    for entry in order:
        if size > limit:
            break
        kept.add((entry.source, entry.index))
        size += len(entry.content)
    return (
        [e for e in entries if (e.source, e.index) in kept],
        [e for e in entries if (e.source, e.index) not in kept],
    )


def _fired(candidate: Candidate, sources: Sequence[LoreSource], user: str) -> FiredEntry:
    source = sources[candidate.source]
    compiled = candidate.entry
    entry = compiled.entry
    return FiredEntry(
        book=source.book.name,
        title=entry.title,
        why=candidate.why,
        content=resolve_macros(entry.content.strip(), char=source.char, user=user),
        tokens=0,
        placement=compiled.placement,
        depth=compiled.depth,
        role=compiled.role,
        source=candidate.source,
        index=compiled.index,
        rank=entry.drop_rank,
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
) -> LoreActivation:
    """Scan, resolve macros, count tokens and fit the budget: the lore for the next prompt."""
    limit = budget * CHARS_PER_TOKEN_MAX
    books = [s.book for s in sources]
    candidates = scan_lore(books, turns, config, char_limit=limit, scene_turns=scene_turns)
    if not candidates:
        return LoreActivation(budget=budget)
    fired, beyond = _pretrim([_fired(c, sources, user) for c in candidates], limit)
    # One more token each for the line break that joins entries.
    counts = await count_many([Prompt.plain(e.content) for e in fired])
    fired = [replace(e, tokens=n + 1) for e, n in zip(fired, counts, strict=True)]
    book_budgets = {
        i: s.book.book.token_budget
        for i, s in enumerate(sources)
        if s.book.book.token_budget is not None
    }
    kept, dropped = fit_budget(fired, budget, book_budgets)
    return LoreActivation(tuple(kept), (*dropped, *beyond), budget, sum(e.tokens for e in kept))
