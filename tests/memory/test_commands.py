"""`/scene memory`, the export, chat's /memory and scene files' summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Sampler
from bot.errors import UserError
from bot.memory.service import MemoryCommands
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import SceneFileError, load_scene_file
from bot.scenes.service import SceneCommands
from bot.scenes.views import SceneViews
from bot.store import Database, Stores, StorySummary
from tests.channel.helpers import alice, gm
from tests.memory.helpers import long_scene


async def test_show_edit_clear(db: Database) -> None:
    tavern, _, scene_id = await long_scene(db)
    memory = tavern.services.get(MemoryCommands)
    assert "No story so far" in (await memory.show(gm())).text
    with pytest.raises(UserError):
        await memory.edit(alice(), "Mine now.")
    edited = await memory.edit(gm(), "  Ann came to the harbor.  ")
    summary = await tavern.stores.summaries.get(scene_id)
    assert summary is not None and summary.text == "Ann came to the harbor."
    # A new summary covers what the prompt window no longer holds.
    assert summary.through > 0 and f"turns 1–{summary.through}" in edited.text
    assert "Ann came to the harbor." in (await memory.show(gm())).text
    export = await tavern.services.get(SceneCommands).export(gm())
    assert export.file is not None
    assert (
        export.file[1]
        .decode()
        .startswith(f"[Story so far, turns 1–{summary.through}]\nAnn came to the harbor.\n\n")
    )
    prompt = await tavern.services.get(SceneCommands).prompt(gm())
    assert prompt.file is not None and b"Story so far: Ann came to the harbor." in prompt.file[1]
    assert "cleared" in (await memory.clear(gm())).text
    assert await tavern.stores.summaries.get(scene_id) is None
    assert "no story so far" in (await memory.clear(gm())).text


SCENE = """
format = "chatml"
summary = "Ann bought the boat."
summary_through = 2
[[players]]
name = "Ann"
[[npcs]]
name = "Mira"
[[turns]]
speaker = "Ann"
text = "One."
[[turns]]
speaker = "Mira"
text = "Two."
[[turns]]
speaker = "Ann"
text = "Three."
"""


async def test_scene_file_summary_covers_its_opening_turns(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENE)
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(path), "chatml")
    assert await stores.summaries.get(scene.id) == StorySummary("Ann bought the boat.", 2)
    view = await SceneViews(stores, Sampler()).view(scene)
    assert view.context.summary == "Ann bought the boat." and view.summary_through == 2


@pytest.mark.parametrize(
    "extra", ['summary_through = 9\nsummary = "x"', "summary_through = 1", "summary = 3"]
)
def test_scene_file_summary_is_checked(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(extra + "\n" + SCENE.split("\n", 4)[4])
    with pytest.raises(SceneFileError):
        load_scene_file(path)
