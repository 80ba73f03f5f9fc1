"""A long scene's figures: its export and its clear, and how long each stalls the event loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.bench.stall import stall_monitor
from bot.bench.storage import TurnRow, insert_turns
from bot.bench.text import FillerText
from bot.scenes.transcript import transcript
from bot.store import Database, Stores


@dataclass(frozen=True)
class LongSceneFigures:
    """Wall time and the longest event-loop stall of each operation on one long scene."""

    turns: int
    export_s: float
    export_stall_ms: float
    export_bytes: int
    clear_s: float
    clear_stall_ms: float


async def measure_long_scene(
    db: Database, stores: Stores, scene_id: int, turns: int, note: Callable[[str], None]
) -> LongSceneFigures:
    """Fill the scene with `turns` turns, then export it and clear it under a stall monitor."""
    filler = FillerText(seed=turns)
    rows = (
        TurnRow("user" if i % 2 else "model", "Rook" if i % 2 else "Marta", filler.line("Marta"))
        for i in range(turns)
    )
    await insert_turns(db, scene_id, rows)
    async with stall_monitor() as exporting:
        started = time.perf_counter()
        count, (_, data) = await transcript(
            stores.turns, stores.summaries, stores.chapters, scene_id
        )
        export_s = time.perf_counter() - started
    async with stall_monitor() as clearing:
        started = time.perf_counter()
        await stores.turns.clear(scene_id)
        clear_s = time.perf_counter() - started
    figures = LongSceneFigures(
        turns=count,
        export_s=export_s,
        export_stall_ms=exporting.longest * 1000,
        export_bytes=len(data),
        clear_s=clear_s,
        clear_stall_ms=clearing.longest * 1000,
    )
    note(
        f"{count:,} turns: export {export_s:.2f} s (stall {figures.export_stall_ms:.0f} ms), "
        f"clear {clear_s:.2f} s (stall {figures.clear_stall_ms:.0f} ms)"
    )
    return figures
