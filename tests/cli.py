"""The real `tavernkeep` command line (`python -m bot`) run as a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Tavernkeep setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(settings)
    return env


def run_cli(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in `cwd` with `env` (this process's when None), text in and out.

    `cwd` should be a folder with no `.env` in it, so the run sees only the settings given.
    """
    base = dict(os.environ) if env is None else env
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        cwd=cwd,
        env={**base, "PYTHONPATH": str(REPO)},  # this checkout, wherever pytest runs from
        capture_output=True,
        text=True,
        timeout=timeout,
    )
