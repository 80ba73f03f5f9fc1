"""Storage figures: append and budget-window reads in a channel with many stored turns."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from statistics import median
from typing import Any

from sqlalchemy import func, insert, select

from bot.bench.text import FillerText
from bot.domain import Role
from bot.store import Database, Turn, TurnStore
from bot.store.turn_reads import NO_SEQ

WINDOW = 128
_CHUNK = 5_000
# What `TurnStore.lines` asks for, as plain SQL: the baseline of `storage_ratio`.
RAW_WINDOW_SQL = (
    "SELECT id, seq, role, speaker, content FROM turns "
    "WHERE scene_id = ? AND deleted = 0 AND pending = 0 AND seq < ? ORDER BY seq DESC LIMIT ?"
)


@dataclass(frozen=True)
class TurnRow:
    """A turn to bulk-insert."""

    role: Role
    speaker: str
    content: str
    character_id: int | None = None
    author_id: int | None = None


@dataclass
class StoragePoint:
    """Medians at one history size."""

    turns: int
    append_ms: float
    window_ms: float
    raw_window_ms: float | None = None  # the same read in plain sqlite3 (SQLite files only)


@dataclass
class StorageFigures:
    """Append and window medians at each size, and the seeding speed."""

    points: list[StoragePoint] = field(default_factory=list)
    seed_rows_per_s: float = 0.0


async def next_seq(db: Database, scene_id: int) -> int:
    """The sequence number the next turn of this scene gets."""
    stmt = select(func.coalesce(func.max(Turn.seq), 0)).where(Turn.scene_id == scene_id)
    async with db.session() as s:
        return int((await s.scalar(stmt)) or 0) + 1


async def insert_turns(db: Database, scene_id: int, rows: Iterable[TurnRow]) -> int:
    """Bulk-insert turns after the scene's newest, in one transaction; returns how many.

    They are stored as turns from before presence was recorded: witnessed by everyone, so a
    seeded history reads the same from every view (one row each, not one per witness).
    """
    seq = await next_seq(db, scene_id)
    now = datetime.now(UTC)
    count = 0
    rows_iter: Iterator[TurnRow] = iter(rows)
    async with db.engine.begin() as conn:
        while chunk := list(islice(rows_iter, _CHUNK)):
            params: list[dict[str, Any]] = []
            for row in chunk:
                params.append(
                    {
                        "scene_id": scene_id,
                        "seq": seq,
                        "role": row.role,
                        "speaker": row.speaker,
                        "character_id": row.character_id,
                        "author_id": row.author_id,
                        "content": row.content,
                        "swipes": [row.content],
                        "swipe_index": 0,
                        "edited": False,
                        "deleted": False,
                        "all_witnessed": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                seq += 1
            await conn.execute(insert(Turn), params)
            count += len(chunk)
    return count


async def _median_ms(samples: int, call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(3):  # warm the connection pool and statement caches
        await call()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return median(times)


async def _raw_window_ms(db: Database, scene_id: int, samples: int) -> float | None:
    """The window read in plain `sqlite3` on the same file, oldest first like the store's."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    connection = sqlite3.connect(url.database)

    async def read() -> object:
        rows = connection.execute(RAW_WINDOW_SQL, (scene_id, NO_SEQ, WINDOW)).fetchall()
        rows.reverse()
        if len(rows) != WINDOW:
            raise RuntimeError(f"raw window returned {len(rows)} rows, expected {WINDOW}")
        return rows

    try:
        return await _median_ms(samples, read)
    finally:
        connection.close()


async def measure_storage(
    db: Database,
    turns: TurnStore,
    scene_id: int,
    sizes: Iterable[int],
    samples: int,
    on_step: Callable[[str], None] | None = None,
) -> StorageFigures:
    """Grow one scene to each size and time `TurnStore.append` and `TurnStore.lines`."""
    filler = FillerText(seed=7)
    figures = StorageFigures()
    stored = 0
    seeded = 0
    seed_seconds = 0.0
    for size in sizes:
        missing = max(0, size - stored)
        rows = (
            TurnRow(
                "user" if i % 2 else "model", "Rook" if i % 2 else "Marta Vell", filler.record(i)
            )
            for i in range(stored, stored + missing)
        )
        started = time.perf_counter()
        stored += await insert_turns(db, scene_id, rows)
        seed_seconds += time.perf_counter() - started
        seeded += missing

        async def append() -> object:
            return await turns.append(scene_id, role="user", speaker="Rook", content="Still here.")

        async def window() -> object:
            page = await turns.lines(scene_id, WINDOW)
            if len(page) != WINDOW:
                raise RuntimeError(f"window returned {len(page)} turns, expected {WINDOW}")
            return page

        append_ms = await _median_ms(samples, append)
        stored += samples + 3
        window_ms = await _median_ms(samples, window)
        raw_ms = await _raw_window_ms(db, scene_id, samples)
        figures.points.append(StoragePoint(size, append_ms, window_ms, raw_ms))
        if on_step is not None:
            raw = f" (plain sqlite3 {raw_ms:.2f} ms)" if raw_ms is not None else ""
            on_step(f"{size:,} turns: append {append_ms:.2f} ms, window {window_ms:.2f} ms{raw}")
    figures.seed_rows_per_s = seeded / seed_seconds if seed_seconds > 0 else 0.0
    return figures
