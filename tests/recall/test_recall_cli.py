"""`tavernkeep prompt --recall`: a scene file with many turns recalls from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli import clean_env, run_cli
from tests.recall.helpers import FACT, QUESTION, filler

HEAD = """
format = "chatml"

[[players]]
name = "Rook"
sheet = "**Character Name**: Rook"

[[npcs]]
name = "Mara"
sheet = "**Character Name**: Mara"

[[npcs]]
name = "Ivo"
sheet = "**Character Name**: Ivo"
present = false
"""


def _turn(speaker: str, text: str) -> str:
    return f'\n[[turns]]\nspeaker = "{speaker}"\ntext = "{text}"\n'


def _scene(folder: Path) -> Path:
    """Rook tells Mara the fact, 200 turns of small talk, Ivo enters, Rook asks."""
    turns = [_turn("Rook", FACT), *(_turn("Rook", t) for t in filler(200))]
    turns += ['\n[[turns]]\nenter = "Ivo"\n', _turn("Rook", QUESTION)]
    scene = folder / "long.toml"
    scene.write_text(HEAD + "".join(turns))
    return scene


def _prompt(args: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """`tavernkeep prompt ARGS` in a 2,048-token context, no other Tavernkeep settings."""
    env = clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'unused.db'}", N_CTX="2048")
    return run_cli(["prompt", *args], cwd=folder, env=env)


@pytest.mark.model
def test_prompt_recall_lists_what_came_back_and_why(tmp_path: Path) -> None:
    scene = _scene(tmp_path)
    listed = _prompt([str(scene), "--for", "Mara", "--recall"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    head, *lines = listed.stdout.splitlines()
    assert head.startswith("Recall: ") and "/256 tokens" in head and "silver" in head
    (fact,) = [line for line in lines if "floorboard" in line]
    assert fact.startswith("- turn 1, Rook (score ") and "matched silver, key" in fact
    # The prompt itself holds it, after the newest turn.
    prompt = _prompt([str(scene), "--for", "Mara"], tmp_path)
    assert prompt.returncode == 0, prompt.stderr
    assert prompt.stdout.index(QUESTION) < prompt.stdout.index(f"Rook: {FACT}")
    # Ivo entered late: nothing of it; the speaker choice recalls nothing.
    ivo = _prompt([str(scene), "--for", "Ivo", "--recall"], tmp_path)
    assert ivo.returncode == 0 and "floorboard" not in ivo.stdout
    # Without --for: what the NPC the model chooses recalls, from its own view.
    chosen = _prompt([str(scene), "--recall"], tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout in (listed.stdout, ivo.stdout)


def test_a_recall_budget_larger_than_the_context_is_one_line(tmp_path: Path) -> None:
    env = clean_env(RECALL_BUDGET="9000", N_CTX="4096")
    done = run_cli(["migrate"], cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "tavernkeep: RECALL_BUDGET: 9000 tokens is more than the whole context (N_CTX=4096); "
        "lower it (256 is plenty) or set 0 to turn recall off"
    ]
