"""`/memory` in `tavernkeep chat`: the story so far, then the chapters closed before it."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bot.core import Core
from bot.director.director import TurnDirector
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import load_scene_file
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, NewChapter, Stores, StorySummary
from bot.terminal.chat import TerminalChat
from bot.terminal.poster import TerminalPoster
from tests.scripted_engine import ScriptedEngine

SCENE = """
format = "group-inst"
[[players]]
name = "Keri"
sheet = "**Character Name**: Keri"
[[npcs]]
name = "Marta"
sheet = "**Character Name**: Marta"
"""


async def test_memory_shows_the_chapters(db: Database, tmp_path: Path) -> None:
    (tmp_path / "scene.toml").write_text(SCENE)
    stores = Stores.over(db)
    scene, players = await import_scene_file(
        stores, load_scene_file(tmp_path / "scene.toml"), "group-inst"
    )
    chapter = NewChapter("The Silver Key", "Keri bought the silver key from Marta.", 1, 210)
    await stores.chapters.add(scene.id, chapter)
    await stores.summaries.put(scene.id, StorySummary("Keri went down to the pier.", 260))
    engine = ScriptedEngine()
    settings = load_settings(quiet_seconds=0.0, reply_cooldown_seconds=0.0)
    views = SceneViews(stores, Sampler(seed=1))
    core = Core(settings, db, stores, engine, TurnDirector(engine, stores.turns), views)
    out = io.StringIO()
    poster = TerminalPoster(Console(file=out, width=500))
    chat = TerminalChat(core.services(poster), poster, scene, players[0])

    await chat.run(io.StringIO("/memory\n"))

    printed = out.getvalue()
    assert "The story so far covers turns 211–260, after one chapter" in printed
    assert "Keri went down to the pier." in printed
    assert "1. The Silver Key — turns 1–210" in printed
    assert "[1. The Silver Key, turns 1–210]\nKeri bought the silver key from Marta." in printed
