"""The measurement's pure parts: caps, llama-bench's arguments and output, the VRAM verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.bench.gpu.measure import _check_vram, bench_args, parse_bench, parse_caps
from bot.errors import UserError

MIB = 1024**2


def test_caps() -> None:
    assert parse_caps("none,12288, 8192,640") == [None, 12288, 8192, 640]
    with pytest.raises(UserError, match="'12G'"):
        parse_caps("none,12G")


def test_llama_bench_runs_what_the_bot_ran() -> None:
    cap = {"n_batch": 512, "flash_attn": False, "kv_cache_type": "f16", "threads": 8}
    args = bench_args("m.gguf", -1, 4012, cap)  # type: ignore[arg-type]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["-ngl"] == "99" and pairs["-p"] == "4012" and pairs["-d"] == "0,4012"
    assert (pairs["-b"], pairs["-ub"], pairs["-fa"], pairs["-t"]) == ("512", "512", "0", "8")
    assert dict(zip(*[iter(bench_args("m", 36, 4000, {}))] * 2, strict=True))["-ngl"] == "36"


def test_llama_bench_json_gives_pp_from_empty_and_tg_at_depth() -> None:
    rows = [
        {"n_prompt": 4012, "n_gen": 0, "n_depth": 0, "avg_ts": 8000.0},
        {"n_prompt": 0, "n_gen": 64, "n_depth": 0, "avg_ts": 120.0},
        {"n_prompt": 4012, "n_gen": 0, "n_depth": 4012, "avg_ts": 6000.0},
        {"n_prompt": 0, "n_gen": 64, "n_depth": 4012, "avg_ts": 100.0},
    ]
    assert parse_bench("ggml_cuda_init: found 1 CUDA devices\n" + json.dumps(rows)) == (
        8000.0,
        100.0,
    )


def _cap(used_low: int, budget: int) -> dict[str, Any]:
    return {
        "free_before_bytes": 80_000 * MIB,
        "free_after_load_bytes": 80_000 * MIB - used_low + 100 * MIB,
        "free_after_rounds_bytes": 80_000 * MIB - used_low,
        "budget_bytes": budget,
        "problems": [],
    }


def test_vram_within_the_cap() -> None:
    cap = _cap(8000 * MIB, 8192 * MIB)
    _check_vram(cap)
    assert cap["used_bytes"] == 8000 * MIB and cap["within_cap"] is True
    assert cap["margin_left_bytes"] == 192 * MIB and cap["problems"] == []


def test_vram_over_the_cap_is_a_problem() -> None:
    cap = _cap(8300 * MIB, 8192 * MIB)
    _check_vram(cap)
    assert cap["within_cap"] is False
    assert cap["problems"] == ["the process took 8300 MiB, over the 8192 MiB doctor planned within"]
