"""Scene files' roll turns and `mechanics`: checked at load, stored as /roll stores a roll."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.dice import roll_line
from bot.director.director import TurnDirector
from bot.domain import DiceRoll
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import RollTurn, SceneFileError, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores, Turn
from tests.scripted_engine import ScriptedEngine

SCENE = """
format = "group-inst"
mechanics = true

[[players]]
name = "Keri"
sheet = "A scout."
state = { HP = "12/20" }

[[npcs]]
name = "Marta"
sheet = "Harbormaster."

[[turns]]
speaker = "Keri"
text = "I slip along the wall."

[[turns]]
speaker = "Keri"
roll = "1D20 + 5"
reason = "  Stealth  "
result = 17

[[turns]]
speaker = "Keri"
roll = "1d20+2"
reason = "Insight"
private = true

[[turns]]
speaker = "Marta"
roll = "2d6"
"""
RECORDED = 'roll = "1D20 + 5"\nreason = "  Stealth  "\nresult = 17'
STEALTH = "Keri rolls 1d20+5 for Stealth: 17"


def _file(tmp_path: Path, text: str = SCENE) -> Path:
    path = tmp_path / "harbor.toml"
    path.write_text(text)
    return path


def test_roll_turns_are_read_and_their_notation_normalised(tmp_path: Path) -> None:
    sf = load_scene_file(_file(tmp_path))
    assert sf.turns == (
        ("Keri", "I slip along the wall."),
        ("Keri", RollTurn("1d20+5", "Stealth", 17)),
        ("Keri", RollTurn("1d20+2", "Insight", None, private=True)),
        ("Marta", RollTurn("2d6")),
    )
    assert sf.mechanics is True
    assert (
        load_scene_file(_file(tmp_path, SCENE.replace("mechanics = true", ""))).mechanics is False
    )


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('roll = "2d"', "'2d' stops too soon"),
        ('roll = "1d20+5 Stealth"', "'s' is not part of dice notation"),
        ('roll = "k3"', "not dice notation I can read"),
        ('roll = ""', "There is nothing to roll"),
        ('roll = "1d20"\ntext = "Both."', "needs speaker and either text or roll"),
        ('roll = "1d20"\nresult = "17"', "result must be a whole number"),
        ('roll = "1d20"\nresult = true', "result must be a whole number"),
        ('roll = "1d20"\nresult = 1.5', "result must be a whole number"),
        ('roll = "1d20"\nresult = 10000000000', "result must be a whole number"),
        ('roll = "1d20"\nprivate = "yes"', "private must be true or false"),
        ('roll = "1d20"\nreason = 3', "reason must be text"),
        (f'roll = "1d20"\nreason = "{"x" * 101}"', "the reason is limited to 100 characters"),
        ('text = "Hush."\nprivate = true', "only a roll turn can be private"),
    ],
)
def test_a_bad_roll_turn_names_the_file_and_the_turn(tmp_path: Path, table: str, says: str) -> None:
    path = _file(tmp_path, SCENE.replace(RECORDED, table))
    with pytest.raises(SceneFileError) as caught:
        load_scene_file(path)
    lines = enumerate(path.read_text().splitlines(), start=1)
    line = [n for n, text in lines if text == "[[turns]]"][1]  # the line of turns[1]
    assert str(caught.value).startswith(f"{path}:{line} turns[1]: ")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_mechanics_must_be_true_or_false(tmp_path: Path) -> None:
    path = _file(tmp_path, SCENE.replace("mechanics = true", 'mechanics = "on"'))
    with pytest.raises(SceneFileError, match="mechanics must be true or false"):
        load_scene_file(path)


async def _turns(stores: Stores, scene_id: int) -> list[Turn]:
    return [turn async for turn in stores.turns.iter_all(scene_id)]


async def test_roll_turns_are_stored_as_rolls(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    sf = load_scene_file(_file(tmp_path))
    scene, [(owner, keri)] = await import_scene_file(stores, sf, "chatml")
    marta = await stores.characters.find_npc(0, "Marta")
    assert marta is not None and scene.mechanics is True
    before = await _turns(stores, scene.id)
    _, recorded, private, npc = before

    assert (recorded.role, recorded.kind, recorded.private) == ("user", "roll", False)
    assert (recorded.speaker, recorded.character_id, recorded.author_id) == ("Keri", keri.id, owner)
    # A past roll keeps its total; its breakdown is the total alone (no faces were recorded).
    assert await stores.state.rolls(recorded.id) == [DiceRoll("1d20+5", 17, "17", "Stealth")]
    assert recorded.content == STEALTH

    [rolled] = await stores.state.rolls(private.id)
    die = re.fullmatch(r"(\d+) \+ 2", rolled.detail)
    assert die is not None and 1 <= int(die[1]) <= 20 and rolled.total == int(die[1]) + 2
    assert (rolled.expr, rolled.reason) == ("1d20+2", "Insight")
    assert (private.kind, private.private, private.content) == (
        "roll",
        True,
        roll_line("Keri", rolled),
    )

    assert (npc.role, npc.kind, npc.speaker, npc.character_id, npc.author_id) == (
        "user",
        "roll",
        "Marta",
        marta.id,
        None,
    )
    [two] = await stores.state.rolls(npc.id)
    assert two.expr == "2d6" and 2 <= two.total <= 12

    # Resuming the file rolls nothing again; the file still decides mechanics.
    path = _file(tmp_path, SCENE.replace("mechanics = true", ""))
    scene, _ = await import_scene_file(stores, load_scene_file(path), "chatml")
    assert scene.mechanics is False
    assert [t.id for t in await _turns(stores, scene.id)] == [t.id for t in before]
    assert await stores.state.rolls(private.id) == [rolled]


async def test_the_prompt_has_shared_rolls_and_values_but_no_private_roll(
    db: Database, tmp_path: Path
) -> None:
    stores = Stores.over(db)
    engine = ScriptedEngine()
    director = TurnDirector(engine, stores.turns)
    views = SceneViews(stores, Sampler(seed=1))
    for mechanics in ("true", "false"):
        path = _file(tmp_path, SCENE.replace("mechanics = true", f"mechanics = {mechanics}"))
        scene, _ = await import_scene_file(stores, load_scene_file(path), "group-inst")
        text = (await director.build_prompt(await views.view(scene))).rendered.text
        assert f"[INST]user\nKeri: {STEALTH}[/INST]" in text
        assert "Keri: HP 12/20" in text
        assert "Marta: Marta rolls 2d6: " in text
        assert "Insight" not in text
        assert ("[Dice and State]" in text) == (mechanics == "true")


async def test_summary_through_counts_a_private_roll(db: Database, tmp_path: Path) -> None:
    stores = Stores.over(db)
    text = SCENE + '\n[[turns]]\nspeaker = "Marta"\ntext = "Papers."\n'
    text = text.replace("mechanics = true", 'summary = "Keri crept in."\nsummary_through = 3')
    scene, _ = await import_scene_file(stores, load_scene_file(_file(tmp_path, text)), "chatml")
    turns = await _turns(stores, scene.id)
    summary = await stores.summaries.get(scene.id)
    assert summary is not None
    assert summary.through == turns[2].seq  # the private roll is the file's third turn
