"""The views figures in the bench report, on samples made up for them (no model, no timing)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from bot.bench.model import ModelFigures
from bot.bench.report import build_report, render
from bot.bench.storage import StorageFigures
from bot.bench.views import ViewFigures

# Shaped like a real run: the second cold start stalled, which a ratio of medians would hide.
WARM = [0.30, 0.45, 0.40]
COLD = [4.0, 9.0, 3.5]


def _figures(own: float = 0.90, shared: float = 0.95) -> ViewFigures:
    return ViewFigures(
        own_reuse=own,
        shared_reuse=shared,
        turns=20,
        npcs=3,
        own_keys=3,
        shared_keys=3,
        prompt_tokens=[2100, 2500, 2300],
        warm_s=list(WARM),
        cold_s=list(COLD),
        restores=3,
        warm_new_tokens=[180, 240, 200],
        warm_kv_s=[0.030, 0.020, 0.025],
    )


def _report(views: ViewFigures | None) -> tuple[dict[str, object], str]:
    report = build_report(
        ModelFigures(), StorageFigures(), elapsed=1.0, meta={"profile": "quick"}, views=views
    )
    out = io.StringIO()
    Console(file=out, width=250).print(render(report))
    return json.loads(json.dumps(report.as_json())), out.getvalue()


def _row(text: str, words: str) -> str:
    (line,) = [line for line in text.splitlines() if words in line]
    return line


def test_the_json_has_both_ratios_and_what_they_are_made_of() -> None:
    data, _ = _report(_figures())
    assert data["view_reuse_ratio"] == pytest.approx(0.90 / 0.95)
    assert data["view_own_reuse"] == 0.90 and data["view_shared_reuse"] == 0.95
    # The median of each sample's own ratio, not the ratio of the medians (0.40 / 4.0).
    paired = sorted(w / c for w, c in zip(WARM, COLD, strict=True))[1]
    assert data["view_switch_ratio"] == pytest.approx(paired)
    assert data["view_switch_ratio"] != pytest.approx(0.40 / 4.0)
    assert data["ttft_view_warm_s"] == 0.40 and data["ttft_view_cold_s"] == 4.0
    meta = data["meta"]
    assert isinstance(meta, dict)
    assert meta["views"] == {
        "turns": 20,
        "npcs": 3,
        "own_keys": 3,
        "shared_keys": 3,
        "prompt_tokens": 2300,
        "switch_samples": 3,
        "restores": 3,
        "warm_new_tokens": 200,
        "warm_kv_ms": pytest.approx(25.0),
    }
    assert not [key for key in meta["missing"] if "view" in key]


def test_the_table_shows_both_rows_with_their_verdicts() -> None:
    _, text = _report(_figures())
    reuse = _row(text, "each its own view")
    assert "20 turns of 3 NPCs" in reuse and "3 KV keys" in reuse
    assert "90.0%" in reuse and "95.0%" in reuse and "0.95" in reuse
    assert "≥ 0.85 met" in reuse
    switch = _row(text, "switching views")
    assert "2,300-token prompts" in switch and "3 of n=3 restored" in switch
    assert "200 new tokens" in switch and "snapshots 25 ms" in switch
    assert "400 ms" in switch and "4.00 s" in switch and "≤ 0.1 met" in switch


def test_figures_under_their_targets_are_not_met() -> None:
    figures = _figures(own=0.70, shared=0.95)
    figures.warm_s = [1.0, 1.0, 1.0]
    _, text = _report(figures)
    assert "≥ 0.85 not met" in _row(text, "each its own view")
    assert "≤ 0.1 not met" in _row(text, "switching views")


def test_no_samples_no_ratios_and_no_rows() -> None:
    data, text = _report(ViewFigures())
    assert "view_reuse_ratio" not in data and "view_switch_ratio" not in data
    meta = data["meta"]
    assert isinstance(meta, dict)
    assert {"view_reuse_ratio", "view_switch_ratio"} <= set(meta["missing"])
    data, text = _report(None)
    assert "view_reuse_ratio" not in data and "switching views" not in text
