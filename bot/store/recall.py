"""Reading back old turns and chapters by the words they share with the present.

And, where recall embeds them (RECALL_EMBED_MODEL), their stored vectors: read by scene, and
the turns a vector points at read back only through the same view as a search.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, column, delete, func, insert, literal_column, or_, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Select

from .database import Database
from .models import RecallEmbedding, SceneChapter, Turn
from .search import CHAPTERS_SEARCH, TURNS_SEARCH, fts5_query, repair_search, tsquery_text
from .turn_reads import LINE_COLUMNS, NO_SEQ, SHARED_HISTORY, TurnLine, Witness, in_view


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


@dataclass(frozen=True)
class StoredVector:
    """A history turn's stored embedding: float32 bytes of the text with this digest."""

    turn_id: int
    seq: int
    digest: int
    vector: bytes


@dataclass(frozen=True)
class ToEmbed:
    """A turn or a chapter with no embedding of the model yet, or one older than its text."""

    id: int
    text: str  # a turn's content, a chapter's summary
    seq: int = 0  # a turn's
    title: str | None = None  # a chapter's


@dataclass(frozen=True)
class Embedded:
    """An embedding to store for a turn or a chapter (empty: never recalled, not embedded)."""

    id: int
    chapter: bool
    digest: int
    vector: bytes


# The FTS5 tables, as far as a join needs them (they are not models: see bot.store.search).
_TURNS_FTS = table(TURNS_SEARCH, column("rowid"))
_CHAPTERS_FTS = table(CHAPTERS_SEARCH, column("rowid"))


class RecallStore:
    """Full-text search over a scene's turns and chapters, within what a viewer may read."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.vectors = EmbeddingReads(db)

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


_E = RecallEmbedding


class EmbeddingReads:
    """The stored vectors of recall (`RecallStore.vectors`): read, written, forgotten."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def turn_vectors(self, scene_id: int, model: str) -> list[StoredVector]:
        """Every vector of `model` of the scene's history turns (none for OOC asides)."""
        stmt = (
            select(_E.turn_id, Turn.seq, _E.digest, _E.vector)
            .join(Turn, Turn.id == _E.turn_id)
            .where(_E.scene_id == scene_id, _E.model == model, func.length(_E.vector) > 0)
            .where(*SHARED_HISTORY)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [StoredVector(r[0] or 0, r[1], r[2], bytes(r[3])) for r in rows]

    async def lines(
        self, scene_id: int, ids: Collection[int], *, witness: Witness, before_seq: int
    ) -> list[TurnLine]:
        """The turns of `ids` that a search in this view may find: the same filters."""
        if not ids:
            return []
        stmt = in_view(select(*LINE_COLUMNS).where(Turn.id.in_(list(ids)), *_filters()), witness)
        params: dict[str, Any] = {"scene_id": scene_id, "before": before_seq}
        if witness is not None and witness != 0:
            params["witness"] = witness
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt, params)).all()
        return [TurnLine._make(row) for row in rows]

    async def chapter_vectors(
        self, scene_id: int, views: list[str], model: str, before_seq: int
    ) -> list[tuple[FoundChapter, int, bytes]]:
        """The chapters of these views ending before `before_seq`, with vector and digest."""
        c = SceneChapter
        stmt = (
            select(c.id, c.view, c.title, c.text, c.first_seq, c.last_seq, _E.digest, _E.vector)
            .join(_E, _E.chapter_id == c.id)
            .where(c.scene_id == scene_id, c.view.in_(views), c.last_seq < before_seq)
            .where(_E.model == model, func.length(_E.vector) > 0)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(FoundChapter(*r[:6], score=0.0), r[6], bytes(r[7])) for r in rows]

    async def unembedded(self, scene_id: int, model: str, limit: int) -> list[ToEmbed]:
        """Up to `limit` chapters, then history turns oldest first, to embed (again)."""
        c = SceneChapter
        chapters = (
            select(c.id, c.text, c.title)
            .outerjoin(_E, _E.chapter_id == c.id)
            .where(c.scene_id == scene_id, _stale(model, c.updated_at))
            .order_by(c.first_seq)
            .limit(limit)
        )
        turns = (
            select(Turn.id, Turn.content, Turn.seq)
            .outerjoin(_E, _E.turn_id == Turn.id)
            .where(Turn.scene_id == scene_id, *SHARED_HISTORY, _stale(model, Turn.updated_at))
            .order_by(Turn.seq)
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            found = [ToEmbed(*r[:2], title=r[2]) for r in await conn.execute(chapters)]
            if len(found) < limit:
                found += [ToEmbed(*r) for r in await conn.execute(turns)]
        return found[:limit]

    async def put(
        self, scene_id: int, model: str, read_at: datetime, made: Sequence[Embedded]
    ) -> bool:
        """Store `made` (read at `read_at`), replacing older ones; False if a source is gone."""
        if not made:
            return True
        turns = [m.id for m in made if not m.chapter]
        chapters = [m.id for m in made if m.chapter]
        rows = [
            {
                "scene_id": scene_id,
                "turn_id": None if m.chapter else m.id,
                "chapter_id": m.id if m.chapter else None,
                "model": model,
                "digest": m.digest,
                "vector": m.vector,
                "read_at": read_at,
            }
            for m in made
        ]
        try:
            async with self.db.engine.begin() as conn:
                old = or_(_E.turn_id.in_(turns), _E.chapter_id.in_(chapters))
                await conn.execute(delete(_E).where(old))
                await conn.execute(insert(_E), rows)
        except IntegrityError:  # a turn or chapter deleted for good meanwhile: next time
            return False
        return True

    async def forget_deleted(self, scene_id: int) -> int:
        """Drop the vectors of the scene's deleted turns (nothing recalls them); how many."""
        gone = (
            select(_E.id)
            .join(Turn, Turn.id == _E.turn_id)
            .where(_E.scene_id == scene_id, Turn.deleted.is_(True))
        )
        async with self.db.engine.connect() as conn:
            ids = list((await conn.execute(gone)).scalars())
        if ids:  # a write only when there is something to drop: most rounds have nothing
            async with self.db.engine.begin() as conn:
                await conn.execute(delete(_E).where(_E.id.in_(ids)))
        return len(ids)


def _stale(model: str, updated_at: Any) -> Any:
    """No vector of `model` yet, or its source updated after its text was read."""
    return or_(_E.id.is_(None), _E.model != model, updated_at > _E.read_at)
