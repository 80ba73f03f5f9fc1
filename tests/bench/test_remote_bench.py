"""`tavernkeep bench --serve`: the remote figures, measured on the cached llama-server."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from tests.cli import run_cli

RATIOS = (
    "remote_overhead_ratio",
    "parallel_ratio",
    "server_parallel_ratio",
    "remote_warm_ratio",
)


def test_quick_remote_bench_writes_every_ratio(tmp_path: Path, llama_server_url: str) -> None:
    """--serve starts its own server (slots it may erase); the test server only gates the run."""
    out = tmp_path / "remote.json"
    env = {k: v for k, v in os.environ.items() if k not in ("BACKEND", "BACKEND_URL")}
    env.pop("MODEL_PATH", None)  # the demo model
    args = ["bench", "--quick", "--serve", "--json", str(out)]
    done = run_cli(args, cwd=tmp_path, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "director round vs direct request" in done.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    for key in RATIOS:
        assert isinstance(data.get(key), float) and math.isfinite(data[key]), (key, data)
        assert data[key] > 0, key
    assert data["remote_round_s"] > 0 and data["remote_direct_s"] > 0
