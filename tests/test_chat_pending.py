"""`tavernkeep chat` in process: a turn counts as posted once printed; leftovers are hidden."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from bot.chat import TerminalChat
from bot.director.director import TurnDirector
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.scripted_engine import ScriptedEngine

ANSWER = "The lamps are out, and the gate is cut."


async def test_printed_turns_join_the_history_and_unprinted_ones_go(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = Stores.over(db)
    scene, players = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    engine = ScriptedEngine(texts=[ANSWER], floors=["user"])
    out = io.StringIO()
    chat = TerminalChat(
        stores,
        SceneViews(stores, Sampler(seed=1)),
        TurnDirector(engine, stores.turns),
        scene,
        players[0],
        Console(file=out, width=500),
    )
    # A crash of the last session between storing an NPC turn and printing it.
    left = await stores.turns.append(
        scene.id, role="model", speaker="Marta Vell", content="Never printed.", pending=True
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello there\n/quit\n"))
    await chat.run()

    assert (await stores.turns.get(left.id)).deleted
    assert "Never printed." not in out.getvalue()
    newest = (await stores.turns.window(scene.id, 2))[-1]
    assert (newest.content, newest.pending) == (ANSWER, False)
    assert ANSWER in out.getvalue()
    assert await stores.turns.pending() == []
