"""A built wheel, installed away from the checkout: `chat`, `prompt` and `migrate` work anywhere."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.settings import Settings
from bot.store.migrate import script_location

REPO = Path(__file__).resolve().parents[1]
# What setuptools needs to build the wheel; copied, so the build writes nothing into the checkout.
SOURCES = ("pyproject.toml", "README.md", "bot", "cogs", "migrations")
COMMAND_GUARD_SECONDS = 300
PIP = [sys.executable, "-m", "pip"]

# The CLI loads the demo model (its vocabulary for `prompt`, all of it for `chat`).
pytestmark = pytest.mark.model


def _run(argv: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run `argv` in `cwd`, failing the test with its output if it fails."""
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_GUARD_SECONDS,
        **kwargs,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _build_wheel(tmp: Path) -> Path:
    """The project's wheel, built from a copy of the sources."""
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    # As `pip install .` builds it: in pip's isolated build environment, whose setuptools
    # comes from the package index (or pip's cache).
    _run([*PIP, "wheel", "--no-deps", "--wheel-dir", str(tmp / "dist"), str(source)], tmp)
    (wheel,) = (tmp / "dist").glob("tavernkeep-*.whl")
    return wheel


def _venv_with(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv holding `wheel` and seeing this one's dependencies; its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
        venv,
    )
    # The dependencies come from this environment's site-packages, not PyPI. A path line in a
    # .pth file adds the folder only: the .pth files in it (the editable install's hook that
    # maps `bot` to the checkout) are not run, so `bot` can only come from the wheel.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"  # same interpreter
    own = venv / "lib" / version / "site-packages"
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (own / "tavernkeep-test-deps.pth").write_text("".join(f"{path}\n" for path in ours))
    return venv / "bin"


def _clean_env(db_file: Path) -> dict[str, str]:
    """This environment without Python paths or Tavernkeep settings, on a SQLite file."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in drop and key.lower() not in Settings.model_fields
    }
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{db_file}", N_CTX="2048", COLUMNS="500")
    return env


def test_an_installed_wheel_runs_the_bundled_scene_and_migrations(tmp_path: Path) -> None:
    bin_dir = _venv_with(_build_wheel(tmp_path), tmp_path / "venv")
    work = tmp_path / "elsewhere"  # no checkout, no .env, no migrations folder here
    work.mkdir()
    env = _clean_env(work / "tavernkeep.db")

    where = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import bot, migrations\n"
            "from bot.scenes.scene_file import EXAMPLE_SCENE\n"
            "print(bot.__file__, migrations.__file__, EXAMPLE_SCENE, sep='\\n')",
        ],
        work,
        env=env,
    ).stdout.splitlines()
    venv = (tmp_path / "venv").resolve()
    assert all(Path(path).resolve().is_relative_to(venv) for path in where), where
    scene = Path(where[2])

    npcs = [npc["name"] for npc in tomllib.loads(scene.read_text())["npcs"]]
    prompt = _run([str(bin_dir / "tavernkeep"), "prompt", str(scene)], work, env=env).stdout
    assert all(name in prompt for name in npcs), prompt
    # The lorebook beside the scene came along: its always-on entry is in the prompt.
    lore = _run([str(bin_dir / "tavernkeep"), "prompt", str(scene), "--lore"], work, env=env)
    assert "lantern-harbor-lore › Lantern Harbor: constant" in lore.stdout, lore.stdout

    migrated = _run([str(bin_dir / "tavernkeep"), "migrate"], work, env=env)
    assert "newest schema" in migrated.stdout
    head = ScriptDirectory(str(script_location())).get_current_head()
    with sqlite3.connect(work / "tavernkeep.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]

    # Without an argument, `chat` plays the bundled scene; `/quit` before any model turn.
    chat = _run([str(bin_dir / "tavernkeep"), "chat"], work, env=env, input="/quit\n")
    assert "Marta slams the ledger shut" in chat.stdout, chat.stdout
