"""Reading back old turns and chapters by the words they share with the present."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, column, func, literal_column, select, table
from sqlalchemy.sql import ColumnElement, Select

from .database import Database
from .models import SceneChapter, Turn
from .search import CHAPTERS_SEARCH, TURNS_SEARCH, fts5_query, repair_search, tsquery_text
from .turns import LINE_COLUMNS, NO_SEQ, SHARED_HISTORY, TurnLine, Witness, in_view


@dataclass(frozen=True)
class FoundTurn:
    """A turn the search found, and how well it matched (higher is better)."""

    line: TurnLine
    score: float


@dataclass(frozen=True)
class FoundChapter:
    """A chapter the search found, and how well it matched (higher is better)."""

    id: int
    view: str
    title: str
    text: str
    first_seq: int
    last_seq: int
    score: float


# The FTS5 tables, as far as a join needs them (they are not models: see bot.store.search).
_TURNS_FTS = table(TURNS_SEARCH, column("rowid"))
_CHAPTERS_FTS = table(CHAPTERS_SEARCH, column("rowid"))


class RecallStore:
    """Full-text search over a scene's turns and chapters, within what a viewer may read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def repair(self) -> bool:
        """Rebuild a missing or damaged full-text index; whether it had to (logged once)."""
        async with self.db.engine.begin() as conn:
            return await conn.run_sync(repair_search)

    async def turns(
        self,
        scene_id: int,
        words: list[str],
        *,
        witness: Witness,
        limit: int,
        before_seq: int | None = None,
    ) -> list[FoundTurn]:
        """The best `limit` history turns before `before_seq` matching any of `words`.

        `words` must come from `search_words` (plain words only). `witness` as in
        `TurnStore.lines`; private turns never match.
        """
        if not words or limit <= 0:
            return []
        params: dict[str, Any] = {
            "scene_id": scene_id,
            "before": before_seq or NO_SEQ,
            "limit": limit,
            "witness": witness,
        }
        sqlite = self.db.engine.dialect.name == "sqlite"
        stmt = _turns_sqlite() if sqlite else _turns_postgres()
        stmt = in_view(stmt, witness)
        params["query"] = fts5_query(words) if sqlite else tsquery_text(words)
        if witness is None or witness == 0:
            params.pop("witness")
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt, params)).all()
        return [FoundTurn(TurnLine._make(row[:-1]), float(row[-1])) for row in rows]

    async def chapters(
        self, scene_id: int, views: list[str], words: list[str], *, limit: int
    ) -> list[FoundChapter]:
        """The best `limit` chapters of these views matching any of `words`."""
        if not words or not views or limit <= 0:
            return []
        sqlite = self.db.engine.dialect.name == "sqlite"
        c = SceneChapter
        score: ColumnElement[Any]
        if sqlite:
            score = -func.bm25(literal_column(CHAPTERS_SEARCH))
            stmt = select(c.id, c.view, c.title, c.text, c.first_seq, c.last_seq, score).join_from(
                c, _CHAPTERS_FTS, _CHAPTERS_FTS.c.rowid == c.id
            )
            match = literal_column(CHAPTERS_SEARCH).op("MATCH")(fts5_query(words))
        else:
            vector = func.to_tsvector("english", c.title + " " + c.text)
            query = func.to_tsquery("english", tsquery_text(words))
            score = func.ts_rank_cd(vector, query)
            stmt = select(c.id, c.view, c.title, c.text, c.first_seq, c.last_seq, score)
            match = vector.op("@@")(query)
        stmt = (
            stmt.where(match, c.scene_id == scene_id, c.view.in_(views))
            .order_by(score.desc())
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            FoundChapter(row[0], row[1], row[2], row[3], row[4], row[5], float(row[6]))
            for row in rows
        ]


def _turns_sqlite() -> Select[Any]:
    # bm25 is lower for a better match; negated so both databases sort the same way.
    score = -func.bm25(literal_column(TURNS_SEARCH))
    return (
        select(*LINE_COLUMNS, score.label("score"))
        .join_from(Turn, _TURNS_FTS, _TURNS_FTS.c.rowid == Turn.id)
        .where(literal_column(TURNS_SEARCH).op("MATCH")(bindparam("query")))
        .where(*_filters())
        .order_by(score.desc())
        .limit(bindparam("limit"))
    )


def _turns_postgres() -> Select[Any]:
    vector = func.to_tsvector("english", Turn.content)
    query = func.to_tsquery("english", bindparam("query"))
    score = func.ts_rank_cd(vector, query)
    return (
        select(*LINE_COLUMNS, score.label("score"))
        .where(vector.op("@@")(query))
        .where(*_filters())
        .order_by(score.desc())
        .limit(bindparam("limit"))
    )


def _filters() -> tuple[Any, ...]:
    return (
        Turn.scene_id == bindparam("scene_id"),
        *SHARED_HISTORY,
        Turn.seq < bindparam("before"),
    )
