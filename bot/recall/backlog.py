"""Embedding what recall may find: the turns and chapters of a scene with no vector yet.

When: in the background chores after a posted round (`RecallCommands.after_round`), never
while a prompt is built. Recall only ever reads turns older than the prompt's window, so a
turn is embedded long before any prompt could recall it, and no prompt waits for a model to
embed a history: a prompt embeds only its own query (three turns at most). A campaign that
switches embeddings on, or a large imported scene, is caught up `CHORE_TEXTS` at a time, a
batch of `BATCH` between two checks of the round's cancel token (a player posting stops it);
meanwhile recall finds those turns by words as before.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import CancelToken
from bot.recall.embedder import Embedder, digest, to_bytes
from bot.recall.meaning import chapter_text
from bot.recall.rules import recallable
from bot.recall.vectors import VectorIndex
from bot.store.recall import Embedded, EmbeddingReads, StoredVector, ToEmbed

BATCH = 8  # texts embedded at once: one wait for a round that comes meanwhile
CHORE_TEXTS = 256  # texts embedded after one round at most


def _text(item: ToEmbed) -> str:
    return item.text if item.title is None else chapter_text(item.title, item.text)


class EmbedBacklog:
    """Embeds a scene's turns and chapters that have no vector of the model (or an old one)."""

    def __init__(self, reads: EmbeddingReads, embedder: Embedder, index: VectorIndex) -> None:
        self.reads = reads
        self.embedder = embedder
        self.index = index

    async def catch_up(
        self, scene_id: int, cancel: CancelToken | None = None, limit: int | None = CHORE_TEXTS
    ) -> int:
        """Embed up to `limit` texts of the scene (None: all), oldest first; how many."""
        if await self.reads.forget_deleted(scene_id):
            self.index.forget(scene_id)
        done = 0
        while limit is None or done < limit:
            if self.embedder.failed or (cancel is not None and cancel.cancelled):
                break
            # Read before the texts: an edit made while they are embedded is embedded again.
            read_at = datetime.now(UTC)
            take = BATCH if limit is None else min(BATCH, limit - done)
            todo = await self.reads.unembedded(scene_id, self.embedder.model, take)
            if not todo:
                break
            made = await self._embed(todo)
            if made is None or not await self.reads.put(
                scene_id, self.embedder.model, read_at, made
            ):
                break
            seqs = {item.id: item.seq for item in todo if item.title is None}
            self.index.add(
                scene_id,
                [
                    StoredVector(m.id, seqs[m.id], m.digest, m.vector)
                    for m in made
                    if not m.chapter and m.vector
                ],
            )
            done += len(todo)
        return done

    async def _embed(self, todo: list[ToEmbed]) -> list[Embedded] | None:
        """The vectors of `todo`; an OOC aside gets none (recall never brings it back)."""
        texts = [_text(item) for item in todo]
        wanted = [n for n, t in enumerate(todo) if t.title is not None or recallable(texts[n])]
        vectors = await self.embedder.embed([texts[n] for n in wanted]) if wanted else None
        if wanted and vectors is None:
            return None
        rows = dict(zip(wanted, vectors if vectors is not None else [], strict=True))
        return [
            Embedded(
                item.id,
                item.title is not None,
                digest(texts[n]),
                to_bytes(rows[n]) if n in rows else b"",
            )
            for n, item in enumerate(todo)
        ]
