"""The turn vectors of recently recalled scenes, in memory, for finding the nearest ones.

Without pgvector (see `RecallEmbedding`) the database cannot rank vectors, and reading a whole
scene's vectors for every prompt would cost more than the search by words. Each scene's are
read once, kept as one matrix and ranked by a product with the query; the backlog adds what it
stores. Nothing here decides what a view may read: every turn found is read back through the
view's own filters (`EmbeddingReads.lines`), so a vector here can never leak a turn.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.recall.embedder import Vectors, from_bytes
from bot.store.recall import EmbeddingReads, StoredVector

CAPACITY_BYTES = 256 * 1024 * 1024  # scenes past this are read again when next recalled
THREAD_ROWS = 50_000  # ranking more rows than this runs on a worker thread


@dataclass
class _Scene:
    """One scene's vectors: row `n` is turn `ids[n]`, said at `seqs[n]`."""

    ids: npt.NDArray[np.int64]
    seqs: npt.NDArray[np.int64]
    digests: npt.NDArray[np.int64]
    matrix: Vectors
    rows: dict[int, int] = field(default_factory=dict)
    pending: list[StoredVector] = field(default_factory=list)

    @classmethod
    def of(cls, stored: list[StoredVector]) -> _Scene:
        lengths = [len(s.vector) for s in stored]
        size = max(set(lengths), key=lengths.count) if lengths else 0
        kept = [s for s in stored if len(s.vector) == size]  # another size: another model
        dims = size // 4
        scene = cls(
            np.array([s.turn_id for s in kept], dtype=np.int64),
            np.array([s.seq for s in kept], dtype=np.int64),
            np.array([s.digest for s in kept], dtype=np.int64),
            np.frombuffer(b"".join(s.vector for s in kept), dtype="<f4")
            .astype(np.float32)
            .reshape(len(kept), dims),
        )
        scene.rows = {int(turn): n for n, turn in enumerate(scene.ids)}
        return scene

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes)

    def settle(self) -> None:
        """Take in the vectors added since: a turn embedded again replaces its row."""
        if not self.pending:
            return
        dims = self.matrix.shape[1] if len(self.ids) else len(self.pending[0].vector) // 4
        fresh: dict[int, StoredVector] = {}
        for item in self.pending:
            if len(item.vector) != dims * 4:
                continue
            row = self.rows.get(item.turn_id)
            if row is None:
                fresh[item.turn_id] = item
            else:
                self.matrix[row] = from_bytes(item.vector)
                self.digests[row] = item.digest
        self.pending = []
        if fresh:
            new = _Scene.of(list(fresh.values()))
            start = len(self.ids)
            self.ids = np.concatenate([self.ids, new.ids])
            self.seqs = np.concatenate([self.seqs, new.seqs])
            self.digests = np.concatenate([self.digests, new.digests])
            self.matrix = np.vstack([self.matrix.reshape(start, dims), new.matrix])
            self.rows.update({turn: start + n for turn, n in new.rows.items()})

    def nearest(self, query: Vectors, before_seq: int, count: int) -> list[tuple[int, int, float]]:
        """(turn id, digest, similarity) of the `count` nearest turns said before `before_seq`."""
        if not len(self.ids) or self.matrix.shape[1] != len(query):
            return []
        sims = self.matrix @ query
        sims[self.seqs >= before_seq] = -np.inf
        count = min(count, len(sims))
        best = np.argpartition(-sims, count - 1)[:count]
        best = best[np.argsort(-sims[best])]
        return [
            (int(self.ids[n]), int(self.digests[n]), float(sims[n]))
            for n in best
            if np.isfinite(sims[n])
        ]

    def similar(self, query: Vectors, ids: list[int]) -> dict[int, tuple[int, float]]:
        """Turn id → (digest, similarity) for those of `ids` that have a vector."""
        if self.matrix.shape[1:] != (len(query),):
            return {}
        found = [(turn, self.rows[turn]) for turn in ids if turn in self.rows]
        return {turn: (int(self.digests[n]), float(self.matrix[n] @ query)) for turn, n in found}


class VectorIndex:
    """The vectors of `model` of the scenes recalled lately (the database holds them all)."""

    def __init__(self, reads: EmbeddingReads, model: str, capacity: int = CAPACITY_BYTES) -> None:
        self.reads = reads
        self.model = model
        self.capacity = capacity
        self._scenes: OrderedDict[int, _Scene] = OrderedDict()
        self._loading: dict[int, asyncio.Lock] = {}
        self._early: dict[int, list[StoredVector]] = {}

    async def _scene(self, scene_id: int) -> _Scene:
        scene = self._scenes.get(scene_id)
        if scene is None:
            async with self._loading.setdefault(scene_id, asyncio.Lock()):
                scene = self._scenes.get(scene_id)
                if scene is None:
                    early = self._early[scene_id] = []  # what `add` gets while rows are read
                    try:
                        scene = _Scene.of(await self.reads.turn_vectors(scene_id, self.model))
                    finally:
                        del self._early[scene_id]
                    scene.pending = early  # newer than what was read: it goes last
                    self._scenes[scene_id] = scene
        self._scenes.move_to_end(scene_id)
        scene.settle()
        self._evict(keep=scene_id)
        return scene

    def _evict(self, keep: int) -> None:
        total = sum(s.nbytes for s in self._scenes.values())
        for scene_id in list(self._scenes):
            if total <= self.capacity:
                return
            if scene_id != keep:
                total -= self._scenes.pop(scene_id).nbytes

    async def has_vectors(self, scene_id: int) -> bool:
        """Whether any turn of the scene has a vector of this model."""
        return bool(len((await self._scene(scene_id)).ids))

    async def nearest(
        self, scene_id: int, query: Vectors, before_seq: int, count: int
    ) -> list[tuple[int, int, float]]:
        """(turn id, digest, similarity) of the nearest turns said before `before_seq`."""
        scene = await self._scene(scene_id)
        if len(scene.ids) > THREAD_ROWS:
            return await asyncio.to_thread(scene.nearest, query, before_seq, count)
        return scene.nearest(query, before_seq, count)

    async def similar(
        self, scene_id: int, query: Vectors, ids: list[int]
    ) -> dict[int, tuple[int, float]]:
        """Turn id → (digest, similarity) for those of `ids` that have a vector."""
        return (await self._scene(scene_id)).similar(query, ids)

    def add(self, scene_id: int, stored: list[StoredVector]) -> None:
        """Vectors just stored: taken in when the scene is next ranked (if it is held)."""
        scene = self._scenes.get(scene_id)
        if scene is not None:
            scene.pending += stored
        elif scene_id in self._early:
            self._early[scene_id] += stored

    def forget(self, scene_id: int) -> None:
        """Read the scene's vectors again next time (some were removed)."""
        self._scenes.pop(scene_id, None)
