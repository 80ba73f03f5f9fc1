"""The report: JSON with every figure and the ratios, Markdown to read, from a figures dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.bench.gpu.report import read_steps, render_markdown, write_report

MIB = 1024**2


def _figures() -> dict[str, Any]:
    full = {
        "cap_mb": None,
        "n_gpu_layers": -1,
        "reason": "auto: all 40 layers and the output fit in 79.1 GiB free on NVIDIA H100",
        "budget_bytes": 79_000 * MIB,
        "planned_bytes": 9_300 * MIB,
        "used_bytes": 9_100 * MIB,
        "within_cap": True,
        "cold_ttft_s": 0.52,
        "warm_ttft_s": 0.031,
        "prompt_tokens": 4012,
        "cold_pp_tps": 7715.4,
        "round_tg_tps": 80.0,
        "bench_pp_tps": 8000.0,
        "bench_tg_tps": 100.0,
        "problems": [],
    }
    eight = {
        "cap_mb": 8192,
        "n_gpu_layers": 36,
        "reason": "auto: 36 of 40 layers fit in GPU_MEMORY_LIMIT_MB=8192 of the 79.1 GiB free",
        "budget_bytes": 8192 * MIB,
        "planned_bytes": 8100 * MIB,
        "used_bytes": 8300 * MIB,
        "within_cap": False,
        "round_tg_tps": 20.0,
        "bench_tg_tps": None,
        "problems": ["the process took 8300 MiB, over the 8192 MiB doctor planned within"],
    }
    small = {
        "cap_mb": 640,
        "n_gpu_layers": 0,
        "reason": "auto: GPU_MEMORY_LIMIT_MB=640 is too small",
        "problems": [],
    }
    steps = [
        {"step": "build_wheel", "seconds": 241, "ok": True},
        {"step": "quantize", "seconds": 70, "ok": False},
    ]
    return {
        "meta": {"gpu": "NVIDIA H100 80GB HBM3, 580.159.04, 9.0, 81559 MiB"},
        "steps": steps,
        "caps": [full, eight, small],
    }


def test_the_json_has_the_ratios_and_the_headline(tmp_path: Path) -> None:
    json_path, md_path = write_report(_figures(), tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert data["headline"] == {
        "cap_mb": None,
        "gpu_tg_ratio": 0.8,
        "gpu_pp_ratio": 0.9644,
        "ttft_cold_s": 0.52,
        "ttft_warm_s": 0.031,
        "prompt_tokens": 4012,
    }
    assert data["caps"][1]["gpu_tg_ratio"] is None  # no llama-bench figure: no ratio, no crash
    assert data["steps"][1] == {"step": "quantize", "seconds": 70, "ok": False}
    assert md_path.read_text() == render_markdown(data)


def test_the_page_shows_each_cap_and_what_went_wrong() -> None:
    page = render_markdown(_figures())
    assert (
        "| card's free memory | -1 | 9,100 MiB / 9,300 MiB / 79,000 MiB | yes "
        "| 0.520 s / 0.031 s | 80.0 | 100.0 | 0.800 | 0.964 |" in page
    )
    assert "| 8192 MiB | 36 | 8,300 MiB / 8,100 MiB / 8,192 MiB | NO |" in page
    assert "| 640 MiB | 0 | – / – / – | – | – / – | – | – | – | – |" in page
    assert "| quantize | 70 s | FAILED |" in page
    assert "over the 8192 MiB doctor planned within" in page
    assert "gpu_tg_ratio (director round generation vs llama-bench tg): 0.800" in page


def test_steps_are_read_from_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    path.write_text(
        '{"step": "venv", "seconds": 12, "ok": true}\n\n'
        '{"step": "synth", "seconds": 40, "ok": true}\n'
    )
    assert [s["step"] for s in read_steps(path)] == ["venv", "synth"]
    assert read_steps(tmp_path / "none.jsonl") == [] and read_steps(None) == []
