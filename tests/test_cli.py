"""End to end: `tavernkeep run` without a token says so in one line and exits non-zero."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli import clean_env, run_cli


@pytest.mark.parametrize("token", ["", "   ", None], ids=["empty", "blank", "unset"])
def test_run_without_token_prints_one_line_and_exits(tmp_path: Path, token: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    if token is not None:
        env["DISCORD_TOKEN"] = token
    # cwd = tmp_path: no .env file there to supply a token.
    done = run_cli(["run"], cwd=tmp_path, env=env, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert ".env.example" in lines[0] and "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    assert not (tmp_path / "bot.db").exists()  # nothing was started


DICE_SCENE = """
format = "group-inst"
mechanics = true

[[players]]
name = "Keri"
sheet = "**Character Name**: Keri"
state = { HP = "12/20", Inventory = ["rope", "lantern"] }

[[npcs]]
name = "Marta"
sheet = "**Character Name**: Marta"
state = { Gold = 15 }

[[turns]]
speaker = "Keri"
text = "I slip along the wall."

[[turns]]
speaker = "Keri"
roll = "1d20+5"
reason = "Stealth"
result = 17

[[turns]]
speaker = "Keri"
roll = "1d20+2"
reason = "Insight"
private = true
"""


def _prompt(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`tavernkeep prompt ARGS` with none of the parent's Tavernkeep settings."""
    env = clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    return run_cli(["prompt", *args], cwd=tmp_path, env=env)


@pytest.mark.model
def test_prompt_has_the_files_values_and_shared_rolls(tmp_path: Path) -> None:
    scene = tmp_path / "dice.toml"
    scene.write_text(DICE_SCENE)
    done = _prompt([str(scene)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[Status]\nKeri: HP 12/20; Inventory: rope, lantern\nMarta: Gold 15\n" in done.stdout
    assert "[INST]user\nKeri: Keri rolls 1d20+5 for Stealth: 17[/INST]" in done.stdout
    assert "[Dice and State]" in done.stdout  # the file's `mechanics = true`
    assert "Insight" not in done.stdout  # a private roll never reaches a prompt


@pytest.mark.model
def test_prompt_state_lists_values_and_every_roll(tmp_path: Path) -> None:
    scene = tmp_path / "dice.toml"
    scene.write_text(DICE_SCENE)
    done = _prompt([str(scene), "--state"], tmp_path)
    assert done.returncode == 0, done.stderr
    *lines, private = done.stdout.splitlines()
    assert lines == [
        "Tracked values:",
        "  Keri: HP 12/20; Inventory: rope, lantern",
        "  Marta: Gold 15",
        "Rolls:",
        "  turn 2: Keri rolls 1d20+5 for Stealth: 17",
    ]
    # For the GM's eyes: the private roll too, marked, rolled at import.
    assert re.fullmatch(
        r"  turn 3 \(private\): Keri rolls 1d20\+2 for Insight: \d+ \(\d+ \+ 2\)", private
    )

    example = _prompt(["--state"], tmp_path)  # the bundled scene: no values, no rolls
    assert example.returncode == 0, example.stderr
    assert example.stdout == "Tracked values:\n  none\nRolls:\n  none\n"


def test_prompt_state_is_a_view_of_its_own(tmp_path: Path) -> None:
    done = _prompt(["--state", "--lore"], tmp_path)
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


PRESENCE_SCENE = """
format = "group-inst"

[[players]]
name = "Keri"
sheet = "**Character Name**: Keri"

[[npcs]]
name = "Marta"
sheet = "**Character Name**: Marta"

[[npcs]]
name = "Ivo"
sheet = "**Character Name**: Ivo"
present = false

[[npcs]]
name = "Bosun"
sheet = "**Character Name**: Bosun"
present = false

[[turns]]
speaker = "Keri"
text = "The password is heron."

[[turns]]
speaker = "Keri"
to = "Marta"
text = "Meet me at the boathouse."

[[turns]]
enter = "Ivo"

[[turns]]
speaker = "Keri"
text = "Evening, Ivo."
"""


@pytest.mark.model
def test_prompt_for_an_npc_is_the_prompt_it_speaks_from(tmp_path: Path) -> None:
    scene = tmp_path / "presence.toml"
    scene.write_text(PRESENCE_SCENE)
    marta = _prompt([str(scene), "--for", "marta"], tmp_path)
    assert marta.returncode == 0, marta.stderr
    assert marta.stdout.endswith("[INST]model\nMarta:")
    for line in ("The password is heron.", "Meet me at the boathouse.", "Evening, Ivo."):
        assert f"Keri: {line}" in marta.stdout
    ivo = _prompt([str(scene), "--as", "Ivo"], tmp_path)  # the older name of --for
    assert ivo.returncode == 0, ivo.stderr
    assert ivo.stdout.endswith("[INST]model\nIvo:")
    assert "Keri: Evening, Ivo." in ivo.stdout
    # Without --for: the prompt of the NPC the model chooses, from that NPC's own view.
    chosen = _prompt([str(scene)], tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.endswith(("[INST]model\nMarta:", "[INST]model\nIvo:"))
    if chosen.stdout.endswith("Ivo:"):
        assert chosen.stdout == ivo.stdout
    else:
        assert chosen.stdout == marta.stdout


@pytest.mark.model
def test_prompt_for_an_npc_that_entered_late_has_no_trace_of_before(tmp_path: Path) -> None:
    scene = tmp_path / "presence.toml"
    scene.write_text(PRESENCE_SCENE)
    ivo = _prompt([str(scene), "--for", "Ivo"], tmp_path)
    assert ivo.returncode == 0, ivo.stderr
    assert "Keri: Evening, Ivo." in ivo.stdout
    # Ivo entered after the password and never heard the whisper: no trace of either.
    for trace in ("heron", "boathouse"):
        assert trace not in ivo.stdout


@pytest.mark.model
@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Bosun", "Bosun is not in the scene after the file's turns (it left, or never entered)."),
        ("Keri", "Keri is not one of this scene's NPCs."),
        ("Nobody", "Nobody is not one of this scene's NPCs."),
    ],
)
def test_prompt_for_an_npc_not_in_the_scene_says_why(tmp_path: Path, name: str, says: str) -> None:
    scene = tmp_path / "presence.toml"
    scene.write_text(PRESENCE_SCENE)
    done = _prompt([str(scene), "--for", name], tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"tavernkeep: {says}"]


def test_prompt_refuses_an_event_for_nobody_with_the_file_and_line(tmp_path: Path) -> None:
    scene = tmp_path / "presence.toml"
    scene.write_text(PRESENCE_SCENE + '\n[[turns]]\nleave = "Tobin"\n')
    done = _prompt([str(scene), "--for", "Marta"], tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    line = len(PRESENCE_SCENE.splitlines()) + 2  # the header after the blank line
    assert done.stderr.splitlines() == [
        f"tavernkeep: {scene}:{line} turns[4]: Tobin is not in [[players]] or [[npcs]], "
        "so cannot enter or leave"
    ]
