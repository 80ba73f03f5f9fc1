"""The bench report's arithmetic, on samples made up for it (no model, no timing)."""

from __future__ import annotations

import io
from statistics import median

import pytest
from rich.console import Console

from bot.bench.long_scene import LongSceneFigures
from bot.bench.model import ModelFigures
from bot.bench.report import build_report, render
from bot.bench.storage import StorageFigures


def test_overhead_is_the_median_of_each_rounds_own_ratio() -> None:
    """Rounds of different lengths: the ratio of two medians would compare different rounds."""
    # Shaped like a real run: the third round ran 14% slow, the fourth was the longest.
    rounds = [2.18, 1.91, 2.55, 2.53, 2.70]
    bares = [2.22, 1.99, 2.23, 2.39, 2.67]
    model = ModelFigures(round_s=rounds, bare_s=bares)
    report = build_report(model, StorageFigures(), elapsed=1.0, meta={})
    paired = median(r / b for r, b in zip(rounds, bares, strict=True))
    assert report.figures["overhead_ratio"] == pytest.approx(paired)
    assert report.figures["overhead_ratio"] < 1.05 < median(rounds) / median(bares)
    assert report.figures["overhead_round_s"] == pytest.approx(2.53)


def test_no_overhead_samples_no_ratio() -> None:
    report = build_report(ModelFigures(), StorageFigures(), elapsed=1.0, meta={})
    assert "overhead_ratio" not in report.figures


def test_a_long_scene_stall_over_100_ms_is_shown_as_not_met() -> None:
    long_scene = LongSceneFigures(
        turns=50_000,
        export_s=2.5,
        export_stall_ms=140.0,
        export_bytes=9_000_000,
        clear_s=0.6,
        clear_stall_ms=12.0,
    )
    report = build_report(
        ModelFigures(), StorageFigures(), elapsed=1.0, meta={}, long_scene=long_scene
    )
    assert report.figures["long_scene_export_stall_ms"] == 140.0
    console = Console(file=io.StringIO(), width=250)
    console.print(render(report))
    rows = [line for line in console.file.getvalue().splitlines() if "50,000-turn" in line]
    assert len(rows) == 2
    export, clear = rows
    assert "export" in export and "not met" in export
    assert "clear" in clear and "not met" not in clear and "met" in clear
