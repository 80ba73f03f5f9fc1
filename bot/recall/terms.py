"""How many turns each query word matches, counted only up to a cap.

A word that half the campaign says ("pier", a character's name in every action) finds nothing
telling and makes the ranked search score every turn it is in: at 100,000 turns one such word
costs tens of milliseconds. Counting a word's matches up to a cap reads at most that many
entries of the full-text index, so knowing which words are common costs little; words found
common are remembered (a word only grows more common as turns are added).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, column, func, literal, literal_column, select, table

from bot.store import Database, Turn
from bot.store.search import TURNS_SEARCH, fts5_query, tsquery_text

_FTS = table(TURNS_SEARCH, column("rowid"))


def _count(n: int, sqlite: bool) -> Any:
    """The matches of the word bound as `q{n}`, counted up to `cap`, as a scalar subquery."""
    query: Any = bindparam(f"q{n}")
    if sqlite:
        match = literal_column(TURNS_SEARCH).op("MATCH")(query)
        hits = select(literal(1)).select_from(_FTS).where(match)
    else:
        # The expression of the GIN index, so the index answers it.
        vector = func.to_tsvector("english", Turn.content)
        hits = select(literal(1)).where(vector.op("@@")(func.to_tsquery("english", query)))
    capped = hits.limit(bindparam("cap")).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


class TermCounts:
    """Capped match counts of query words over every scene's turns (the index is shared)."""

    def __init__(self, db: Database, cap: int, capacity: int = 20_000) -> None:
        self.db = db
        self.cap = cap
        self.capacity = capacity
        self._common: OrderedDict[str, None] = OrderedDict()
        # One statement per number of words: built once, so the store's fast path keeps it.
        self._statements: dict[int, Select[Any]] = {}

    async def counts(self, words: Sequence[str]) -> dict[str, int]:
        """Each word's number of matching turns, `cap` for `cap` or more."""
        found = {w: self.cap for w in words if w in self._common}
        unknown = [w for w in words if w not in found]
        if unknown:
            sqlite = self.db.engine.dialect.name == "sqlite"
            params: dict[str, Any] = {"cap": self.cap}
            for n, word in enumerate(unknown):
                params[f"q{n}"] = fts5_query([word]) if sqlite else tsquery_text([word])
            (row,) = await self.db.rows(self._statement(len(unknown), sqlite), params)
            found.update(zip(unknown, (int(c) for c in row), strict=True))
        for word, count in found.items():
            if count >= self.cap:
                self._common[word] = None
                self._common.move_to_end(word)
        while len(self._common) > self.capacity:
            self._common.popitem(last=False)
        return found

    def _statement(self, count: int, sqlite: bool) -> Select[Any]:
        """One select counting `count` words at once: a single trip to the database."""
        if count not in self._statements:
            self._statements[count] = select(*(_count(n, sqlite) for n in range(count)))
        return self._statements[count]
