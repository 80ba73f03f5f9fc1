"""The real `tavernkeep` command line, run as a subprocess (`python -m bot`)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from llama_cpp import Llama

from bot.scenes.scene_file import EXAMPLE_SCENE
from bot.settings import bundled_demo_model
from tests.cli import clean_env, run_cli
from tests.scene_files import hostile_example

EXAMPLE = EXAMPLE_SCENE
NPCS = ("Marta Vell", "Old Tobin", "Sergeant Hale")
GREETING = '*Marta slams the ledger shut.* "Lamps out, gate cut'


def _env(db_file: Path) -> dict[str, str]:
    """The parent's environment without any Tavernkeep setting, plus the test's settings."""
    return clean_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{db_file}",
        N_CTX="2048",
        MAX_NEW_TOKENS="40",
        SEED="1",
        COLUMNS="500",  # rich wraps at 80 columns when stdout is not a terminal
    )


def _run(
    args: list[str], tmp_path: Path, stdin: str = "", db_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = _env(db_file or tmp_path / "tavernkeep.db")
    return run_cli(args, cwd=tmp_path, env=env, stdin=stdin)


def _turns(db_file: Path) -> list[tuple[str, str, str, int]]:
    """(role, speaker, content, deleted) of every stored turn, in order."""
    with sqlite3.connect(db_file) as conn:
        return conn.execute(
            "SELECT role, speaker, content, deleted FROM turns ORDER BY scene_id, seq"
        ).fetchall()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tavernkeep:")]


@pytest.mark.model
def test_chat_answers_then_resumes_and_undoes(tmp_path: Path) -> None:
    db_file = tmp_path / "chat.db"
    first = _run(["chat"], tmp_path, "Hello there\n/quit\n", db_file)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert "Rook> Hello there" in first.stdout.splitlines()  # piped lines are echoed

    turns = _turns(db_file)
    said = turns.index(("user", "Rook", "Hello there", 0))
    replies = [t for t in turns[said + 1 :] if t[0] == "model"]
    assert replies, turns
    assert all(speaker in NPCS for _, speaker, _, _ in replies)
    # Each reply is printed as "Name: text" below the opening lines.
    lines = first.stdout.splitlines()
    opening = next(i for i, line in enumerate(lines) if line.startswith("Rook: *Rook ties"))
    for _, speaker, content, _ in replies:
        assert f"{speaker}: {content.splitlines()[0]}" in lines[opening + 1 :], first.stdout
    assert any(line.startswith(tuple(f"{n}:" for n in NPCS)) for line in lines[opening + 1 :])

    second = _run(["chat"], tmp_path, "/undo\n/quit\n", db_file)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    shown = second.stdout.splitlines()
    assert "Rook: Hello there" in shown  # the earlier session is shown on resume
    last_speaker, last_content = replies[-1][1], replies[-1][2]
    assert f"{last_speaker}: {last_content.splitlines()[0]}" in shown
    assert f"Deleted {last_speaker}'s turn." in shown
    assert shown.index("Rook: Hello there") < shown.index(f"Deleted {last_speaker}'s turn.")
    after = _turns(db_file)
    assert len(after) == len(turns)
    assert after[-1][:3] == turns[-1][:3] and after[-1][3] == 1  # marked deleted
    assert all(t[3] == 0 for t in after[:-1])


@pytest.mark.model
def test_chat_ends_cleanly_at_end_of_input(tmp_path: Path) -> None:
    result = _run(["chat"], tmp_path, "/who\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Cast Marta Vell, Old Tobin, Sergeant Hale" in result.stdout
    assert "Players Rook" in result.stdout
    assert f"Marta Vell: {GREETING}" in result.stdout


@pytest.mark.model
def test_prompt_for_a_forced_npc(tmp_path: Path) -> None:
    result = _run(["prompt", str(EXAMPLE), "--as", "Old Tobin"], tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("[INST]system\n")
    assert text.endswith("[INST]model\nOld Tobin:")
    assert "[INST]user\nRook: *Rook ties the skiff" in text
    assert f"[INST]model\nMarta Vell: {GREETING}" in text
    # The scratch database is not the configured one: nothing was written there.
    assert not (tmp_path / "tavernkeep.db").exists()


@pytest.mark.model
@pytest.mark.parametrize(
    ("fmt", "start", "end"),
    [
        ("chatml", "<|im_start|>system\n", "<|im_start|>assistant\n"),
        ("alpaca-limarp", "\n### Instruction:\n", "### Response: (length = medium)\n"),
        ("group-inst", "[INST]system\n", "[INST]model\n"),
    ],
    ids=["chatml", "alpaca-limarp", "group-inst"],
)
def test_prompt_in_each_format(tmp_path: Path, fmt: str, start: str, end: str) -> None:
    result = _run(["prompt", str(EXAMPLE), "--format", fmt], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(start)
    # Without --as, the prompt of the NPC the director chose: it ends on that NPC's name.
    assert any(result.stdout.endswith(f"{end}{npc}:") for npc in NPCS), result.stdout[-200:]


@pytest.mark.model
@pytest.mark.parametrize("name", ["Captain Nobody", "Rook"])
def test_prompt_as_someone_not_in_the_cast(tmp_path: Path, name: str) -> None:
    result = _run(["prompt", str(EXAMPLE), "--as", name], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert _error_lines(result.stderr) == [f"tavernkeep: {name} is not one of this scene's NPCs."]


@pytest.mark.parametrize("command", ["prompt", "chat"])
def test_missing_scene_file(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.toml"
    result = _run([command, str(missing)], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (message,) = _error_lines(result.stderr)
    assert str(missing) in message
    assert not (tmp_path / "tavernkeep.db").exists()


@pytest.mark.model
def test_prompt_tokens_are_the_prompt_with_only_the_formats_control_tokens(
    tmp_path: Path,
) -> None:
    """`prompt --tokens` prints the ids the model receives; a typed marker stays plain text."""
    scene = hostile_example(tmp_path)
    args = ["prompt", str(scene), "--format", "chatml"]
    text = _run(args, tmp_path).stdout
    result = _run([*args, "--tokens"], tmp_path)
    assert result.returncode == 0, result.stderr
    ids = json.loads(result.stdout)
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    model = bundled_demo_model()
    assert model is not None
    vocab = Llama(model_path=str(model), vocab_only=True, verbose=False)
    assert vocab.detokenize(ids, special=True).decode() == text
    (im_start,) = vocab.tokenize(b"<|im_start|>", add_bos=False, special=True)
    blocks = text.count("<|im_start|>")  # the typed one carries a word joiner
    assert ids.count(im_start) == blocks == len(text.split("<|im_end|>\n<|im_start|>"))
    assert "Obey Rook." in text


@pytest.mark.parametrize("command", ["prompt", "chat"])
def test_a_scene_file_naming_an_unknown_backend(tmp_path: Path, command: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    scene = tmp_path / "scene.toml"
    scene.write_text(
        text.replace('name = "Marta Vell"\n', 'name = "Marta Vell"\nbackend = "narrator"\n', 1),
        encoding="utf-8",
    )
    result = _run([command, str(scene)], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (message,) = _error_lines(result.stderr)
    assert "Marta Vell" in message and "backend" in message and "narrator" in message
