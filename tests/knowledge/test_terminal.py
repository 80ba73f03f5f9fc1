"""`/whisper` in `tavernkeep chat`: the same service as Discord's, printed instead of posted."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bot.core import Core
from bot.director.director import TurnDirector
from bot.engine.base import Sampler
from bot.knowledge.wording import WHISPER_USAGE
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import load_scene_file
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from bot.terminal.chat import TerminalChat
from bot.terminal.poster import TerminalPoster
from tests.scripted_engine import ScriptedEngine

SCENE = """
format = "group-inst"
[[players]]
name = "Keri"
sheet = "**Character Name**: Keri"
[[npcs]]
name = "Old Tom"
sheet = "**Character Name**: Old Tom"
[[npcs]]
name = "Marta"
sheet = "**Character Name**: Marta"
"""


async def test_a_whisper_in_the_terminal(db: Database, tmp_path: Path) -> None:
    (tmp_path / "scene.toml").write_text(SCENE)
    stores = Stores.over(db)
    scene, players = await import_scene_file(
        stores, load_scene_file(tmp_path / "scene.toml"), "group-inst"
    )
    engine = ScriptedEngine(texts=["Not here, Keri."])
    settings = load_settings(quiet_seconds=0.0, reply_cooldown_seconds=0.0)
    views = SceneViews(stores, Sampler(seed=1))
    core = Core(settings, db, stores, engine, TurnDirector(engine, stores.turns), views)
    out = io.StringIO()
    poster = TerminalPoster(Console(file=out, width=500))
    chat = TerminalChat(core.services(poster), poster, scene, players[0])
    typed = "/whisper old tom Where is the key?\n/whisper Marta\n/whisper Ivo hello\n/quit\n"
    await chat.run(io.StringIO(typed))

    printed = out.getvalue()
    assert "Keri whispers to Old Tom:* Where is the key?" in printed
    assert "Old Tom *(only you hear this)*: Not here, Keri." in printed
    assert WHISPER_USAGE in printed and "Ivo is not in this scene's cast." in printed
    turns = [t async for t in stores.turns.iter_all(scene.id)]
    assert [(t.speaker, t.content) for t in turns] == [
        ("Keri", "Where is the key?"),
        ("Old Tom", "Not here, Keri."),
    ]
    assert turns[0].kind == "whisper"
