"""Scene files' `state = {…}` tables: checked at load, stored once as changes of no turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import SceneFileError, load_scene_file
from bot.state.rules import Change, Number, Stat
from bot.store import Database, Stores

SCENE = """
[[players]]
name = "Rook"
sheet = "A sailor."
state = { HP = "12/20", Gold = 15, Inventory = ["rope", "lantern"] }

[[npcs]]
name = "Marta"
sheet = "Harbormaster."
state = { Ledger = [] }

[[npcs]]
name = "Ivo"
sheet = "A boy."

[[turns]]
speaker = "Marta"
text = "Papers."
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harbor.toml"
    path.write_text(text)
    return path


def test_state_tables_are_read(tmp_path: Path) -> None:
    sf = load_scene_file(_file(tmp_path, SCENE))
    assert sf.states == (
        (
            "Rook",
            (
                Stat("HP", Number(12, 20)),
                Stat("Gold", Number(15)),
                Stat("Inventory", ("rope", "lantern")),
            ),
        ),
        ("Marta", (Stat("Ledger", ()),)),
    )


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('"HP 12"', "players[0] state: state must be a table"),
        ('{ HP = "12/-1" }', "players[0] state: HP: write a number"),
        ("{ HP = 1.5 }", "players[0] state: HP: use text"),
        ("{ HP = true }", "players[0] state: HP: use text"),
        ('{ Bag = ["a,b"] }', "players[0] state: Bag: list items cannot hold ','"),
        ('{ Bag = [""] }', "players[0] state: Bag: list items cannot be empty"),
        ('{ Bag = ["x", 3] }', "players[0] state: Bag: use text"),
        ('{ "H:P" = 3 }', "players[0] state: H:P: value names are"),
        ("{ HP = 10000000000 }", "players[0] state: HP: numbers go from"),
    ],
)
def test_bad_state_names_the_file_and_field(tmp_path: Path, table: str, says: str) -> None:
    path = _file(
        tmp_path,
        SCENE.replace('{ HP = "12/20", Gold = 15, Inventory = ["rope", "lantern"] }', table),
    )
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    assert str(caught.value).startswith(f"{path} {says}")


def test_too_many_values_are_refused(tmp_path: Path) -> None:
    many = ", ".join(f"K{i} = {i}" for i in range(31))
    path = _file(tmp_path, SCENE.replace("{ Ledger = [] }", "{ " + many + " }"))
    with pytest.raises(
        SceneFileError, match=r"npcs\[0\] state: K30: a character tracks at most 30"
    ):
        load_scene_file(path)


async def test_imported_once_as_standing_changes(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    sf = load_scene_file(_file(tmp_path, SCENE))
    scene, players = await import_scene_file(stores, sf, "chatml")
    rook = players[0][1]
    marta = await stores.characters.find_npc(0, "Marta")
    assert marta is not None
    state = await stores.state.current(scene.id)
    assert [s.key for s in state.of(rook.id).values()] == ["HP", "Gold", "Inventory"]
    assert state.get(marta.id, "ledger") == Stat("Ledger", ())
    entries = await stores.state.history(scene.id, rook.id, "HP")
    assert [e.turn_id for e in entries] == [None]

    # The game goes on; resuming the file keeps its values, it does not reset them.
    await stores.state.record(scene.id, [Change(rook.id, "HP", "add", -5)])
    await import_scene_file(stores, sf, "chatml")
    again = await stores.state.current(scene.id)
    assert again.get(rook.id, "HP") == Stat("HP", Number(7, 20))
