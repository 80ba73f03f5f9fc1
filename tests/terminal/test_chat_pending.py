"""`tavernkeep chat` in process: a turn counts as posted once printed; leftovers are hidden."""

from __future__ import annotations

import io

from rich.console import Console

from bot.core import Core
from bot.director.director import TurnDirector
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from bot.terminal.chat import TerminalChat
from bot.terminal.poster import TerminalPoster
from tests.scripted_engine import ScriptedEngine

ANSWER = "The lamps are out, and the gate is cut."


async def test_printed_turns_join_the_history_and_unprinted_ones_go(db: Database) -> None:
    stores = Stores.over(db)
    scene, players = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    engine = ScriptedEngine(texts=[ANSWER])
    out = io.StringIO()
    settings = load_settings(quiet_seconds=0.0, reply_cooldown_seconds=0.0)
    views = SceneViews(stores, Sampler(seed=1))
    core = Core(settings, db, stores, engine, TurnDirector(engine, stores.turns), views)
    poster = TerminalPoster(Console(file=out, width=500))
    chat = TerminalChat(core.services(poster), poster, scene, players[0])
    # A crash of the last session between storing an NPC turn and printing it.
    left = await stores.turns.append(
        scene.id, role="model", speaker="Marta Vell", content="Never printed.", pending=True
    )
    await chat.run(io.StringIO("Hello there\n/quit\n"))

    assert (await stores.turns.get(left.id)).deleted
    assert "Never printed." not in out.getvalue()
    newest = (await stores.turns.window(scene.id, 2))[-1]
    assert (newest.content, newest.pending) == (ANSWER, False)
    assert ANSWER in out.getvalue()
    assert await stores.turns.pending() == []
