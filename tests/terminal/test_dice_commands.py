"""`/roll` and `/stat` in `tavernkeep chat`: the same dice and state services as Discord's."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from bot.core import Core
from bot.director.director import TurnDirector
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import load_scene_file
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from bot.terminal.chat import HELP, STAT_USAGE, TerminalChat, split_roll
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
ANSWER = "Marta squints at the dice."


@pytest.mark.parametrize(
    ("typed", "split"),
    [
        ("1d20+5 Stealth", ("1d20+5", "Stealth")),
        ("1d20 + 5 Stealth check", ("1d20 + 5", "Stealth check")),
        ("4d6 kh3 Strength", ("4d6 kh3", "Strength")),
        ("d20", ("d20", None)),
        # Spaces do not count in notation: joined, this would be 1d205.
        ("1d20 5 goblins", ("1d20", "5 goblins")),
        ("1d20 +5 3 goblins", ("1d20 +5", "3 goblins")),
        ("2d", ("2d", None)),  # nothing valid: the first word, for the roll to refuse
        ("Stealth 1d20", ("Stealth", "1d20")),
        ("", ("", None)),
    ],
)
def test_the_dice_are_the_longest_valid_run_of_words(
    typed: str, split: tuple[str, str | None]
) -> None:
    assert split_roll(typed) == split


async def _chat(db: Database, tmp_path: Path, lines: str) -> tuple[Stores, int, str]:
    """Play `lines` in the terminal; the scene's id and what was printed."""
    (tmp_path / "scene.toml").write_text(SCENE)
    stores = Stores.over(db)
    scene, players = await import_scene_file(
        stores, load_scene_file(tmp_path / "scene.toml"), "group-inst"
    )
    engine = ScriptedEngine(texts=[ANSWER])
    settings = load_settings(quiet_seconds=0.0, reply_cooldown_seconds=0.0)
    views = SceneViews(stores, Sampler(seed=1))
    core = Core(settings, db, stores, engine, TurnDirector(engine, stores.turns), views)
    out = io.StringIO()
    poster = TerminalPoster(Console(file=out, width=500))
    await TerminalChat(core.services(poster), poster, scene, players[0]).run(io.StringIO(lines))
    return stores, scene.id, out.getvalue()


async def test_a_roll_is_printed_stored_and_answered(db: Database, tmp_path: Path) -> None:
    stores, scene_id, out = await _chat(db, tmp_path, "/roll 1d20 + 5 Stealth check\n/quit\n")
    turns = [t async for t in stores.turns.iter_all(scene_id)]
    [roll, answer] = turns
    [rolled] = await stores.state.rolls(roll.id)
    assert (rolled.expr, rolled.reason) == ("1d20+5", "Stealth check")
    assert (roll.role, roll.kind, roll.speaker, roll.private) == ("user", "roll", "Keri", False)
    line = f"Keri rolls 1d20+5 for Stealth check: {rolled.total} ({rolled.detail})"
    assert roll.content == line
    assert f"Keri: {line}" in out.splitlines()
    assert re.fullmatch(r"\d+ \+ 5", rolled.detail)
    assert (answer.speaker, answer.content) == ("Marta", ANSWER)  # a roll is acting


async def test_bad_dice_get_one_line_and_store_nothing(db: Database, tmp_path: Path) -> None:
    stores, scene_id, out = await _chat(db, tmp_path, "/roll 2d\n/roll\n/quit\n")
    assert [t async for t in stores.turns.iter_all(scene_id)] == []
    printed = out.splitlines()
    assert printed[0] == HELP
    assert printed[1:] == [
        "Keri> /roll 2d",
        "'2d' stops too soon; rolls look like 1d20+5, 4d6kh3, 2d20kl1, 1d20rr1, 1d6! or 6d10>=8.",
        "Keri> /roll",
        "There is nothing to roll: rolls look like 1d20+5, 4d6kh3, 2d20kl1, 1d20rr1, 1d6! or "
        "6d10>=8.",
        "Keri> /quit",
    ]


async def test_stat_sets_adds_removes_and_shows(db: Database, tmp_path: Path) -> None:
    typed = [
        "/stat",
        "/stat set HP 12/20",
        "/stat add HP -3",
        '/stat set "Max Load" 40',
        "/stat set Inventory rope",
        "/stat add Inventory Rook's lantern, map",
        "/stat remove Inventory rope",
        "/stat",
        "/stat remove Max Load",
        '/stat remove "Max Load"',
        "/stat set HP",
        "/stat frob HP 3",
    ]
    _, _, out = await _chat(db, tmp_path, "\n".join(typed) + "\n/quit\n")
    replies = [line for line in out.splitlines()[1:] if not line.startswith("Keri> ")]
    assert replies == [
        "Keri has no tracked values yet.",
        "Keri: HP 12/20.",
        "Keri: HP 9/20 (was 12/20).",
        "Keri: Max Load 40.",
        "Keri: Inventory: rope.",
        "Keri: Inventory: rope, Rook's lantern, map (was rope).",
        "Keri: Inventory: Rook's lantern, map (was rope, Rook's lantern, map).",
        "Keri: HP 9/20; Max Load 40; Inventory: Rook's lantern, map",
        # Without quotes the key is one word: `Max`, with `Load` as the items to take off.
        "Max is not tracked for this character: set it first.",
        "Keri: Max Load is no longer tracked.",
        STAT_USAGE,
        STAT_USAGE,
    ]
