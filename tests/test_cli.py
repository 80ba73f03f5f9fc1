"""End to end: `tavernkeep run` without a token says so in one line and exits non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("token", ["", "   ", None], ids=["empty", "blank", "unset"])
def test_run_without_token_prints_one_line_and_exits(tmp_path: Path, token: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    if token is not None:
        env["DISCORD_TOKEN"] = token
    # cwd = tmp_path: no .env file there to supply a token.
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert ".env.example" in lines[0] and "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    assert not (tmp_path / "bot.db").exists()  # nothing was started
