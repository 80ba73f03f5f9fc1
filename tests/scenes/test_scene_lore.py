"""Scene files carry lore: `lorebooks = [...]` files and inline `[[lore]]` entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, SceneFileError, load_scene_file
from bot.store import Database, Stores
from tests.cli import run_cli
from tests.terminal.test_chat import _env

SCENE = """
lorebooks = ["books/coast.json"]
[[npcs]]
name = "Marta"
sheet = "Harbormaster."
[[lore]]
keys = ["fog"]
content = "The fog is thick."
position = "at_depth"
depth = 2
role = "user"
logic = "not_any"
secondary_keys = ["sun"]
sticky = 5
[[lore]]
content = "Always."
constant = true
order = 1
"""
COAST = {"entries": {"0": {"uid": 0, "key": ["reef"], "content": "The reef.", "position": 0}}}


def _write(tmp_path: Path, scene: str = SCENE, book: object = COAST) -> Path:
    (tmp_path / "books").mkdir(exist_ok=True)
    (tmp_path / "books" / "coast.json").write_text(json.dumps(book))
    path = tmp_path / "scene.toml"
    path.write_text(scene)
    return path


def test_scene_files_load_book_files_and_inline_entries(tmp_path: Path) -> None:
    scene = load_scene_file(_write(tmp_path))
    coast, inline = scene.lorebooks
    assert (coast.name, [e.content for e in coast.entries]) == ("coast", ["The reef."])
    assert inline.name == "scene lore"
    fog, always = inline.entries
    assert (fog.placement, fog.depth, fog.role, fog.logic, fog.sticky) == (
        "at_depth",
        2,
        "user",
        "not_any",
        5,
    )
    assert fog.needs_secondary  # secondary keys written by hand count without `selective`
    assert (always.constant, always.insertion_order) == (True, 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[lore]]\nkeys = ["x"]\n', r"lore\[2\]: needs content"),
        ('[[lore]]\ncontent = "x"\nlogic = "maybe"\n', r"lore\[2\]: logic must be one of"),
        ('[[lore]]\ncontent = "x"\ndepth = -1\n', "depth must be a whole number"),
        ('[[lore]]\ncontent = "x"\ncolour = "red"\n', "unknown field 'colour'"),
        ('[[lore]]\ncontent = "x"\nkeys = 5\n', "keys has the wrong type"),
    ],
)
def test_bad_lore_tables_name_the_entry_and_the_field(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(SceneFileError, match=message):
        load_scene_file(_write(tmp_path, SCENE + extra))


def test_bad_lorebook_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SceneFileError, match=r"lorebooks\[0\]: That file is not a lorebook"):
        load_scene_file(_write(tmp_path, book={"x": 1}))
    missing = SCENE.replace("coast.json", "gone.json")
    with pytest.raises(SceneFileError, match=r"lorebooks\[0\]: cannot read .*gone.json"):
        load_scene_file(_write(tmp_path, missing))


async def test_importing_attaches_the_books_and_a_new_version_replaces_them(
    db: Database, tmp_path: Path
) -> None:
    stores = Stores.over(db)
    path = _write(tmp_path)
    scene, _ = await import_scene_file(stores, load_scene_file(path), "chatml")
    names = [b.name for b in await stores.lore.scene_books(scene.id)]
    assert names == ["scene/coast", "scene/scene lore"]
    path.write_text(SCENE.split("[[lore]]")[0])  # inline entries removed from the file
    await import_scene_file(stores, load_scene_file(path), "chatml")
    books = await stores.lore.scene_books(scene.id)
    assert [(b.name, b.revision) for b in books] == [("scene/coast", 2)]


def test_the_example_scene_ships_its_lorebook() -> None:
    (book,) = load_scene_file(EXAMPLE_SCENE).lorebooks
    assert book.name == "lantern-harbor-lore"
    assert 10 <= len(book.entries) <= 15


@pytest.mark.model
def test_prompt_lore_prints_what_fired_and_why(tmp_path: Path) -> None:
    env = _env(tmp_path / "tavernkeep.db")
    done = run_cli(["prompt", str(EXAMPLE_SCENE), "--lore"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("9 lore entries fired")
    assert "  lantern-harbor/lantern-harbor-lore › Lantern Harbor: constant [" in done.stdout
    assert '› The fog: key "fog" [' in done.stdout
    assert 'Marta\'s secret: key "Marta" (AND ANY: "tithe")' in done.stdout
    assert "recursion level 1 from The harbor lamps" in done.stdout
