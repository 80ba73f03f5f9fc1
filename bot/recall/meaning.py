"""Recall by meaning (RECALL_EMBED_MODEL): stored vectors near what was said last.

The search by words finds its candidates as ever; these are ranked again with the nearest
turns and chapters by meaning, both lists fused by rank (`fuse`). Every turn found by meaning
is read back through the view's own filters, exactly as the search by words reads: only what
the speaker witnessed, never a deleted, pending or private turn, and (in `SceneRecall`) never
an OOC aside. A vector of a text since edited is never compared (its digest tells).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

from bot.director.types import RecallQuery
from bot.recall.embedder import Embedder, Vectors, digest, from_bytes
from bot.recall.vectors import VectorIndex
from bot.store.recall import FoundChapter, FoundTurn, RecallStore

NEAREST = 48  # turns read by nearness for one prompt, before the view's filters drop some
QUERY_TURNS = 3  # the newest turns of the view the query is embedded from
NEWEST_WEIGHT = 2.0  # the newest of them weighs this much more: it is what is answered
# Reciprocal rank fusion: a memory scores 1 / (FUSE_K + rank) in each list it is in. Ranks fuse
# where scores would not (bm25 and ts_rank_cd against cosine similarity); the constant keeps
# the head of one list from outweighing what both lists agree on.
FUSE_K = 20
K = TypeVar("K", bound=Hashable)


def fuse(*ranked: Sequence[K]) -> dict[K, float]:
    """Each key's fused score over the lists it is in (best first in each)."""
    scores: dict[K, float] = {}
    for keys in ranked:
        for rank, key in enumerate(keys, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (FUSE_K + rank)
    return scores


def chapter_text(title: str, text: str) -> str:
    """What of a chapter is embedded: its title and summary."""
    return f"{title}\n{text}"


class MeaningSearch:
    """The nearest stored vectors of a speaker's view, and how near the words' finds are."""

    def __init__(self, store: RecallStore, embedder: Embedder) -> None:
        self.reads = store.vectors
        self.embedder = embedder
        self.index = VectorIndex(self.reads, embedder.model)

    async def query_vector(self, query: RecallQuery) -> Vectors | None:
        """What was said last, embedded (the newest turn weighing most); None: nothing to do."""
        recent = [text for text in query.recent if text.strip()][-QUERY_TURNS:]
        if not recent or not await self.index.has_vectors(query.scene_id):
            return None
        rows = await self.embedder.embed(recent)
        if rows is None:
            return None
        weights = np.ones(len(rows), dtype=np.float32)
        weights[-1] = NEWEST_WEIGHT
        vector = weights @ rows
        norm = float(np.linalg.norm(vector))
        return (vector / norm).astype(np.float32) if norm > 0 else None

    async def turns(
        self, query: RecallQuery, vector: Vectors, found: Sequence[FoundTurn]
    ) -> tuple[dict[int, float], list[FoundTurn]]:
        """Similarities of `found` (found by words) and of the nearest turns of the view,
        and those nearest turns that `found` lacks, read through the view's filters."""
        scene_id = query.scene_id
        ids = {f.line.id for f in found}
        known = await self.index.similar(scene_id, vector, list(ids))
        sims = {
            f.line.id: known[f.line.id][1]
            for f in found
            if f.line.id in known and known[f.line.id][0] == digest(f.line.content)
        }
        near = await self.index.nearest(scene_id, vector, query.before_seq, NEAREST)
        wanted = {turn: (mark, sim) for turn, mark, sim in near if turn not in ids}
        lines = await self.reads.lines(
            scene_id, wanted, witness=query.witness, before_seq=query.before_seq
        )
        extra: list[FoundTurn] = []
        for line in lines:
            mark, sim = wanted[line.id]
            if mark == digest(line.content):
                sims[line.id] = sim
                extra.append(FoundTurn(line, 0.0))
        return sims, extra

    async def chapters(
        self, query: RecallQuery, vector: Vectors, views: list[str]
    ) -> list[tuple[FoundChapter, float]]:
        """The chapters of these views before the window, nearest first, with similarity."""
        stored = await self.reads.chapter_vectors(
            query.scene_id, views, self.embedder.model, query.before_seq
        )
        near = [
            (chapter, float(from_bytes(raw) @ vector))
            for chapter, mark, raw in stored
            if len(raw) == 4 * len(vector)
            and mark == digest(chapter_text(chapter.title, chapter.text))
        ]
        return sorted(near, key=lambda pair: -pair[1])
