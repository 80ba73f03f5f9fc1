"""`tavernkeep` as a subprocess against real servers: chat, prompt --tokens, a server down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.scenes.scene_file import EXAMPLE_SCENE
from tests.cli import run_cli
from tests.engine.remote.conftest import free_port
from tests.scene_files import hostile_example
from tests.terminal.test_chat import NPCS, _env, _error_lines, _turns

PLAY = "Hello there, Marta\n/reply Old Tobin\n/swipe\n/quit\n"


def _tavernkeep(
    args: list[str], tmp_path: Path, stdin: str = "", **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {**_env(tmp_path / "tavernkeep.db"), **settings}
    return run_cli(args, cwd=tmp_path, env=env, stdin=stdin, timeout=600)


def _plays_the_scene(tmp_path: Path, **backend: str) -> None:
    """A player line, /reply Old Tobin, /swipe, then a resumed session with /undo."""
    first = _tavernkeep(["chat"], tmp_path, PLAY, **backend)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    turns = _turns(tmp_path / "tavernkeep.db")
    said = turns.index(("user", "Rook", "Hello there, Marta", 0))
    replies = [t for t in turns[said + 1 :] if t[0] == "model"]
    assert replies and all(speaker in NPCS for _, speaker, _, _ in replies), turns
    assert replies[-1][1] == "Old Tobin"  # /reply Old Tobin, then swiped in place
    tobin_lines = [line for line in first.stdout.splitlines() if line.startswith("Old Tobin: ")]
    assert len(tobin_lines) >= 2, first.stdout  # the reply and its swipe
    assert f"Old Tobin: {replies[-1][2].splitlines()[0]}" == tobin_lines[-1]

    second = _tavernkeep(["chat"], tmp_path, "/undo\n/quit\n", **backend)
    assert second.returncode == 0, second.stderr
    assert "Rook: Hello there, Marta" in second.stdout.splitlines()
    assert "Deleted Old Tobin's turn." in second.stdout.splitlines()
    assert _turns(tmp_path / "tavernkeep.db")[-1][3] == 1


@pytest.mark.model
def test_chat_plays_the_scene_on_llama_server(tmp_path: Path, llama_server_url: str) -> None:
    _plays_the_scene(tmp_path, BACKEND="llama-server", BACKEND_URL=llama_server_url)


@pytest.mark.model
def test_chat_plays_the_scene_on_llama_cpp_pythons_server(
    tmp_path: Path, llama_cpp_server_url: str
) -> None:
    # llama-cpp-python's server does not report its context size: N_CTX says it (2048).
    _plays_the_scene(tmp_path, BACKEND="openai", BACKEND_URL=llama_cpp_server_url)


@pytest.mark.model
def test_prompt_tokens_on_llama_server_are_the_in_process_ids(
    tmp_path: Path, llama_server_url: str
) -> None:
    scene = hostile_example(tmp_path)
    args = ["prompt", str(scene), "--format", "chatml", "--tokens"]
    local = _tavernkeep(args, tmp_path)
    remote = _tavernkeep(args, tmp_path, BACKEND="llama-server", BACKEND_URL=llama_server_url)
    assert local.returncode == remote.returncode == 0, remote.stderr
    ids = json.loads(remote.stdout)
    assert ids == json.loads(local.stdout) and len(ids) > 100


@pytest.mark.parametrize(
    ("command", "code"), [(["chat"], 2), (["run"], 2), (["prompt", str(EXAMPLE_SCENE)], 2)]
)
def test_a_server_that_never_started_is_one_line(
    tmp_path: Path, command: list[str], code: int
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = _tavernkeep(
        command, tmp_path, "Hello\n", BACKEND="llama-server", BACKEND_URL=url, DISCORD_TOKEN="x"
    )
    assert result.returncode == code
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _error_lines(result.stderr) == [
        f"tavernkeep: The model server at {url} is not reachable."
    ]


def test_doctor_names_a_server_that_never_started(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = _tavernkeep(["doctor"], tmp_path, BACKEND="koboldcpp", BACKEND_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"koboldcpp at {url}" in result.stdout
    assert f"The model server at {url} is not reachable." in result.stdout


@pytest.mark.model
def test_doctor_shows_what_the_llama_server_supports(tmp_path: Path, llama_server_url: str) -> None:
    result = _tavernkeep(["doctor"], tmp_path, BACKEND="llama-server", BACKEND_URL=llama_server_url)
    assert result.returncode == 0, result.stdout + result.stderr
    for row in ("llama.cpp llama-server", "token ids", "GBNF grammar", "round trip", " ms "):
        assert row in result.stdout, result.stdout
    # N_CTX (2048 here) lowers the window below a slot's 4096 (llama_server.sh: -c 16384, 4 slots).
    assert "2048 tokens per channel (from N_CTX); 4 slots keep up to 8192" in result.stdout


def test_a_remote_backend_needs_its_url(tmp_path: Path) -> None:
    result = _tavernkeep(["chat"], tmp_path, BACKEND="ollama")
    assert result.returncode == 2
    assert _error_lines(result.stderr) == [
        "tavernkeep: BACKEND_URL is required when BACKEND=ollama"
    ]
