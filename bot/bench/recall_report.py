"""The recall figures in the bench's JSON and table: `recall_at_5`, `recall_ms`, reuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rich.table import Table

from bot.bench.recall import RecallFigures

AT_5_TARGET = 0.9  # issue #23: with full text alone
MS_TARGET = 10.0  # one prompt's retrieval at 100,000 turns, SQLite
REUSE_TARGET = 0.85  # prompt tokens reused with recall on against off


class _Report(Protocol):
    meta: dict[str, object]

    def put(self, key: str, value: float | None) -> None: ...


def put_recall(report: _Report, figures: RecallFigures | None) -> None:
    """The three figures and what they were measured on."""
    if figures is None:
        return
    report.put("recall_at_5", figures.at_5)
    report.put("recall_ms", figures.ms)
    report.put("recall_reuse_ratio", figures.reuse_ratio)
    report.put("recall_prefix_hit", figures.reuse_on)
    report.put("recall_free_prefix_hit", figures.reuse_off)
    if figures.at_5_embed is not None:  # measured only with RECALL_EMBED_MODEL: not missing
        report.put("recall_at_5_embed", figures.at_5_embed)
    report.meta["recall"] = {
        "campaign_turns": figures.campaign_turns,
        "questions": figures.questions,
        "ms_turns": figures.ms_turns,
        "reuse_rounds": figures.reuse_rounds,
        "memories_per_prompt": figures.memories_placed,
        "embed_model": figures.embed_model,
        "embed_seconds": figures.embed_seconds,
    }


def _at_least(value: float | None, target: float) -> str:
    if value is None:
        return "[yellow]not measured[/]"
    met = "[green]met[/]" if value >= target else "[red]not met[/]"
    return f"≥ {target:g} {met}"


def _at_most(value: float | None, target: float) -> str:
    if value is None:
        return "[yellow]not measured[/]"
    met = "[green]met[/]" if value <= target else "[red]not met[/]"
    return f"≤ {target:g} {met}"


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def recall_rows(table: Table, f: Callable[[str], float | None], meta: dict[str, object]) -> None:
    """Recall's three rows, if the bench measured them."""
    if f("recall_at_5") is None and f("recall_ms") is None:
        return
    shape = meta.get("recall")
    about = shape if isinstance(shape, dict) else {}
    table.add_section()
    table.add_row(
        f"recall@5: facts asked 2,000+ turns later ({about.get('questions', 0)} in "
        f"{about.get('campaign_turns', 0):,} turns, full text)",
        _number(f("recall_at_5"), 2),
        "",
        "",
        _at_least(f("recall_at_5"), AT_5_TARGET),
    )
    if f("recall_at_5_embed") is not None:
        took = about.get("embed_seconds")
        table.add_row(
            f"recall@5 with embeddings ({about.get('embed_model')}, embedding took "
            f"{took if isinstance(took, float) else 0:.0f} s)",
            _number(f("recall_at_5_embed"), 2),
            "",
            "",
            "beside full text",
        )
    table.add_row(
        f"recall: one prompt's retrieval at {about.get('ms_turns', 0):,} turns (SQLite)",
        f"{_number(f('recall_ms'), 2)} ms",
        "",
        "",
        _at_most(f("recall_ms"), MS_TARGET),
    )
    table.add_row(
        f"prefix reuse over {about.get('reuse_rounds', 0)} turns, recall on vs off",
        _number(f("recall_prefix_hit")),
        _number(f("recall_free_prefix_hit")),
        _number(f("recall_reuse_ratio")),
        _at_least(f("recall_reuse_ratio"), REUSE_TARGET),
    )
