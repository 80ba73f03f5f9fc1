"""A 50,000-turn scene: export and clear never stall the event loop, and lose nothing."""

from __future__ import annotations

import io
import zipfile

from bot.bench.stall import stall_monitor
from bot.bench.storage import TurnRow, insert_turns
from bot.scenes.service import SceneCommands
from bot.scenes.transcript import PLAIN_MAX_BYTES
from bot.store import Database
from tests.channel.helpers import build, gm, marta_scene

TURNS = 50_000
STALL_LIMIT = 0.1  # seconds: the longest the loop may go without running other channels


def _text(i: int) -> str:
    return f"Turn {i}: " + "the fog rolls over the harbor " * 6


async def test_a_long_scene_exports_and_clears_without_stalling_the_loop(db: Database) -> None:
    tavern = build(db)
    scene_id = await marta_scene(tavern)
    rows = (TurnRow("user" if i % 2 else "model", "Marta", _text(i)) for i in range(TURNS))
    await insert_turns(db, scene_id, rows)
    scenes = tavern.services.get(SceneCommands)

    async with stall_monitor(STALL_LIMIT) as exporting:
        exported = await scenes.export(gm())
    assert exported.file is not None
    name, data = exported.file
    if name == "transcript.zip":  # too large for a plain attachment
        assert len(data) <= PLAIN_MAX_BYTES
        data = zipfile.ZipFile(io.BytesIO(data)).read("transcript.txt")
    text = data.decode()
    assert text.count("Marta: Turn ") == TURNS
    assert text.index(_text(0)) < text.index(_text(TURNS - 1))
    assert exported.text == f"Transcript: {TURNS:,} turns."

    async with stall_monitor(STALL_LIMIT) as clearing:
        assert await tavern.stores.turns.clear(scene_id, batch=2_000) == TURNS
    assert await tavern.stores.turns.count(scene_id) == 0

    assert exporting.over == [] and clearing.over == [], (exporting, clearing)
