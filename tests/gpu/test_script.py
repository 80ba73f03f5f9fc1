"""scripts/gpu_check.sh's argument handling and the refusals `run` gives before any work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_check.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_help_prints_the_usage() -> None:
    for word in ("help", "--help", "-h"):
        done = _run(word)
        assert done.returncode == 0
        assert done.stdout.startswith("usage: scripts/gpu_check.sh pack | run | help")


def test_an_unknown_or_missing_subcommand_is_refused_with_the_usage() -> None:
    for args in (("build",), ()):
        done = _run(*args)
        assert done.returncode == 2
        assert "usage: scripts/gpu_check.sh pack | run | help" in done.stderr
        assert done.stdout == ""


def test_run_without_a_pack_says_how_to_make_one(tmp_path: Path) -> None:
    done = _run("run", env={"GPU_PACK_DIR": str(tmp_path / "none")})
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"gpu_check.sh: no pack at {tmp_path / 'none'}; run scripts/gpu_check.sh pack where "
        "PyPI is reachable"
    )


def test_run_without_a_gpu_stops_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "manifest.json").write_text(json.dumps({"files": {}}))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    done = _run(
        "run",
        env={
            "GPU_PACK_DIR": str(tmp_path / "pack"),
            "GPU_CHECK_WORK": str(tmp_path / "work"),
            "PATH": str(tmp_path / "bin"),  # dirname alone: no nvidia-smi
        },
    )
    assert done.returncode == 1
    assert "no NVIDIA GPU here (nvidia-smi not found)" in done.stderr
    assert not (tmp_path / "work").exists()
