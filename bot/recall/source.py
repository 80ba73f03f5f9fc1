"""Recall over the store's full-text index: the `RecallSource` the director's prompts read.

With RECALL_EMBED_MODEL set, the finds are ranked again with what is nearest in meaning
(`bot.recall.meaning`), and the backlog embeds what has no vector yet (`bot.recall.backlog`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from sqlalchemy import select

from bot.director.types import Memory, RecallFound, RecallQuery, Witness
from bot.domain import CancelToken
from bot.recall.backlog import CHORE_TEXTS, EmbedBacklog
from bot.recall.embedder import Embedder, Vectors
from bot.recall.meaning import MeaningSearch, fuse
from bot.recall.rules import (
    COMMON_TURNS,
    matched_terms,
    query_words,
    recallable,
    telling_words,
)
from bot.recall.terms import TermCounts
from bot.store import SHARED_VIEW, view_key
from bot.store.models import Turn
from bot.store.recall import FoundChapter, FoundTurn, RecallStore
from bot.store.turn_reads import SHARED_HISTORY

# Candidates read per prompt: enough to fill any sensible budget after OOC asides are left
# out, few enough that tokenizing them costs nothing next to the prompt.
TURN_LIMIT = 12
CHAPTER_LIMIT = 2
# PostgreSQL's ts_rank_cd does not weigh how rare a word is: a turn matching a word of fifty
# turns ranks with one matching a word of two. There, this many times the turns are read and
# ranked again by the rarity of the words each matched (SQLite's bm25 weighs it already).
RERANK_READ = 4


class SceneRecall:
    """Finds a view's old turns and chapters by the words of what was said last."""

    def __init__(self, store: RecallStore, budget: int, embedder: Embedder | None = None) -> None:
        self.store = store
        self._budget = budget
        self.terms = TermCounts(store.db, COMMON_TURNS)
        # Whether the database's own rank leaves out rarity, so found turns are ranked again.
        self.reranks = store.db.engine.dialect.name != "sqlite"
        self.embedder = embedder
        self.meaning = MeaningSearch(store, embedder) if embedder else None
        self.backlog = (
            EmbedBacklog(store.vectors, embedder, self.meaning.index)
            if embedder and self.meaning
            else None
        )

    @property
    def budget(self) -> int:
        """Tokens the Memories block of one prompt may take; 0: recall is off."""
        return self._budget

    async def recall(self, query: RecallQuery) -> RecallFound:
        """The memories matching `query`, best first, from what its view witnessed."""
        if self._budget <= 0:
            return RecallFound()
        words = await self.words(query_words(query.recent, query.speaker, query.sheet))
        if not words and self.meaning is None:
            return RecallFound()
        return await self.search(query, words)

    async def catch_up(
        self, scene_id: int, cancel: CancelToken | None = None, limit: int | None = CHORE_TEXTS
    ) -> int:
        """Embed up to `limit` of the scene's turns and chapters with no vector (None: all)."""
        if self.backlog is None:
            return 0
        return await self.backlog.catch_up(scene_id, cancel, limit)

    async def words(self, candidates: list[str]) -> dict[str, int]:
        """The telling words among `candidates` (from `query_words`), with their turn counts."""
        if not candidates:
            return {}
        counts = await self.terms.counts(candidates)
        return {w: counts[w] for w in telling_words(candidates, counts)}

    async def search(self, query: RecallQuery, words: Mapping[str, int]) -> RecallFound:
        """The memories matching `words` (from `words`) in `query`'s view, best first."""
        plain = list(words)
        weigh = self.reranks
        meaning = self.meaning
        views = chapter_views(query.witness, query.own_story)
        # Reads on their own connections at once: each mostly waits on its driver's thread
        # (and the query's embedding on the model's).
        more = RERANK_READ if weigh or meaning else 1
        found, chapters, vector = await asyncio.gather(
            self.store.turns(
                query.scene_id,
                plain,
                witness=query.witness,
                limit=TURN_LIMIT * more,
                before_seq=query.before_seq,
            ),
            self.store.chapters(
                query.scene_id, views, plain, limit=CHAPTER_LIMIT * (2 if meaning else 1)
            ),
            meaning.query_vector(query) if meaning else _nothing(),
        )
        turns = [_turn(f, plain) for f in found if recallable(f.line.content)]
        if weigh:
            turns = sorted((_weighed(m, words) for m in turns), key=lambda m: -m.score)
        # A chapter covering turns of the window would only repeat them.
        kept = [_chapter(c, plain) for c in chapters if c.last_seq < query.before_seq]
        if meaning is not None and vector is not None:
            finds = (found, turns, kept)
            turns, kept = await self._by_meaning(meaning, query, vector, plain, finds)
        turns, kept = turns[:TURN_LIMIT], kept[:CHAPTER_LIMIT]
        # The best turn first, then the best chapter: neither kind crowds the other out.
        return RecallFound(tuple(plain), (*turns[:1], *kept[:1], *turns[1:], *kept[1:]))

    async def _by_meaning(
        self,
        meaning: MeaningSearch,
        query: RecallQuery,
        vector: Vectors,
        plain: list[str],
        found: tuple[Sequence[FoundTurn], list[Memory], list[Memory]],
    ) -> tuple[list[Memory], list[Memory]]:
        """The finds by words (`found`: the turns read, and the turns and chapters kept, best
        first) ranked again with the view's nearest turns and chapters, ranks fused."""
        read, by_words, chapters_by_words = found
        views = chapter_views(query.witness, query.own_story)
        (sims, extra), near = await asyncio.gather(
            meaning.turns(query, vector, read), meaning.chapters(query, vector, views)
        )
        turns = by_words + [_turn(f, plain) for f in extra if recallable(f.line.content)]
        by_meaning = sorted((m for m in turns if m.ref in sims), key=lambda m: -sims[m.ref])
        known = {m.ref for m in chapters_by_words}
        chapters = chapters_by_words + [_chapter(c, plain) for c, _ in near if c.id not in known]
        order = {c.id: n for n, (c, _) in enumerate(near)}
        chapters_by_meaning = sorted(
            (m for m in chapters if m.ref in order), key=lambda m: order[m.ref]
        )
        return (
            _fused(turns, by_meaning, by_words),
            _fused(chapters, chapters_by_meaning, chapters_by_words),
        )

    async def unchanged(self, memories: Sequence[Memory]) -> bool:
        """Whether these memories are all still there as they were (not deleted, not edited).

        Who witnessed a turn never changes, so a turn is looked up; which chapters a view reads
        does (its story becomes its own), so a chapter is vouched for only when found again.
        """
        if any(m.chapter for m in memories):
            return False
        turns = {m.ref: m.text for m in memories}
        if not turns:
            return True
        async with self.store.db.engine.connect() as conn:
            rows = await conn.execute(
                select(Turn.id, Turn.content).where(Turn.id.in_(turns), *SHARED_HISTORY)
            )
            return {row[0]: row[1] for row in rows} == turns


async def _nothing() -> None:
    return None


def _fused(
    memories: list[Memory], by_meaning: list[Memory], by_words: list[Memory]
) -> list[Memory]:
    """`memories` best first by both ranks fused, each scored with its fused score."""
    scores = fuse([m.ref for m in by_words], [m.ref for m in by_meaning])
    ranked = [replace(m, score=scores[m.ref]) for m in memories if m.ref in scores]
    return sorted(ranked, key=lambda m: -m.score)


def _weighed(memory: Memory, counts: Mapping[str, int]) -> Memory:
    """`memory` scored by the rarity of the words it matched, its own rank breaking ties."""
    rarity = sum(math.log1p(COMMON_TURNS / max(1, counts[t])) for t in memory.terms)
    return replace(memory, score=rarity + memory.score)


def chapter_views(witness: Witness, own_story: bool) -> list[str]:
    """The chapters a view reads: its own where its story is its own, else the shared ones."""
    if witness and own_story:
        return [view_key(witness)]
    return [SHARED_VIEW]


def _turn(found: FoundTurn, words: list[str]) -> Memory:
    line = found.line
    terms = matched_terms(line.content, words)
    return Memory(line.seq, line.speaker, line.content, found.score, terms, ref=line.id)


def _chapter(found: FoundChapter, words: list[str]) -> Memory:
    terms = matched_terms(f"{found.title} {found.text}", words)
    return Memory(
        found.first_seq, found.title, found.text, found.score, terms, ref=found.id, chapter=True
    )
