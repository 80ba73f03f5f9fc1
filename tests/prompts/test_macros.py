"""One resolver for {{char}} and {{user}} in sheets, greetings, scenarios and lore."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channel.publisher import TurnPublisher
from bot.domain import Sampler
from bot.prompts.macros import join_names, resolve_macros, user_value
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.channel.helpers import RecordingPoster


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{char}} greets {{user}}.", "Marta greets Rook and Ilse."),
        ("{{Char}} / {{ USER }} / {{CHAR}}", "Marta / Rook and Ilse / Marta"),
        ("<BOT> and <USER>; <char> and <user>", "Marta and Rook and Ilse; Marta and Rook and Ilse"),
        ("{{random:a,b}} {{chars}} <bots> {char}", "{{random:a,b}} {{chars}} <bots> {char}"),
        ("", ""),
    ],
)
def test_macros_resolve_case_insensitively_and_leave_others(text: str, expected: str) -> None:
    assert resolve_macros(text, char="Marta", user="Rook and Ilse") == expected


def test_user_is_the_players_joined_or_you() -> None:
    assert user_value([]) == "you"
    assert user_value(["Rook"]) == "Rook"
    assert (
        user_value(["Rook", "Ilse", "Bo"])
        == "Rook, Ilse and Bo"
        == join_names(["Rook", "Ilse", "Bo"])
    )


def test_a_resolved_name_is_not_resolved_again() -> None:
    assert resolve_macros("{{user}}", char="X", user="{{char}}") == "{{char}}"


SCENE = """
format = "chatml"
scenario = "{{user}} meets {{char}}."
[[players]]
name = "Rook"
sheet = "**Biography**: Owes {{char}} nothing; {{user}} is himself."
[[npcs]]
name = "Marta"
sheet = "**Biography**: Watches <USER> closely."
greeting = "*{{char}} eyes {{user}}.*"
"""


async def test_greetings_sheets_and_scenario_resolve_in_a_scene(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "scene.toml"
    path.write_text(SCENE)
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(path), "chatml")
    (greeting,) = await stores.turns.window(scene.id, 5)
    assert greeting.content == "*Marta eyes Rook.*"
    view = await SceneViews(stores, Sampler()).view(scene)
    assert "Watches Rook closely." in view.context.npcs[0].sheet
    assert "Owes Rook nothing; Rook is himself." in view.context.players[0].sheet
    assert view.context.scenario == "Rook meets Marta."


async def test_a_greeting_posted_on_joining_resolves_user_to_you_without_players(
    db: Database,
) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=5, format="chatml")
    npc = await stores.characters.create(
        guild_id=1, kind="npc", name="Marta", sheet="s", greeting="{{char}} nods at {{user}}."
    )
    await TurnPublisher(stores, RecordingPoster()).greet(scene, npc)
    (turn,) = await stores.turns.window(scene.id, 5)
    assert turn.content == "Marta nods at you."
