"""Turn the bench's samples into figures, a rich table and JSON."""

from __future__ import annotations

import math
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from rich.table import Table

from bot.bench.long_scene import LongSceneFigures
from bot.bench.lore import LoreFigures
from bot.bench.model import ModelFigures
from bot.bench.phase_report import overhead_row, phase_rows, put_overhead
from bot.bench.recall import RecallFigures
from bot.bench.recall_report import put_recall, recall_rows
from bot.bench.storage import StorageFigures
from bot.bench.streaming import StreamFigures, put_streaming, streaming_rows
from bot.bench.views import ViewFigures, put_views, view_rows

MiB = 2**20

# Targets from issue #5: figures on this machine, shown next to the measurements (the
# overhead's, by profile, are in phase_report.py).
WARM_TARGET = 0.15
SWITCH_TARGET = 0.25
WINDOW_GROWTH_TARGET = 2.0
LORE_REUSE_TARGET = 0.9
SUMMARY_DELAY_TARGET = 1.1  # the story-so-far update runs after the reply, not before
STALL_TARGET_MS = 100.0  # the longest the event loop may go without serving other channels
STORAGE_TARGET = 3.0  # the store reads a window at most 3x slower than plain sqlite3
LORE_SCAN_TARGET_MS = 5.0  # issue #11


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int | None:
    """Resident memory of this process now (Linux's /proc), or None where there is none."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (`fraction` of 1) of `values`, or None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom > 0 else None


def _med(values: list[float] | list[int]) -> float | None:
    return float(median(values)) if values else None


def paired_ratio(tops: list[float], bottoms: list[float]) -> float | None:
    """The median of each sample's own ratio.

    For samples that grow or vary in length (each round answers a longer history, with
    another number of tokens), a ratio of two medians compares different samples.
    """
    # A phase cut short may leave one side a sample longer: pair what both sides have.
    pairs = [t / b for t, b in zip(tops, bottoms, strict=False) if b > 0]
    return float(median(pairs)) if pairs else None


@dataclass
class Report:
    """Every figure of one run (flat, for JSON) plus what the run was made of."""

    figures: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: float | None) -> None:
        """Keep a figure only when it is a real, finite number."""
        if value is None or not math.isfinite(value):
            self.meta.setdefault("missing", []).append(key)
            return
        self.figures[key] = round(float(value), 6)

    def get(self, key: str) -> float | None:
        return self.figures.get(key)

    def as_json(self) -> dict[str, Any]:
        return {**self.figures, "meta": self.meta}


def _put_lore(report: Report, lore: LoreFigures | None) -> None:
    if lore is None:
        return
    report.put("lore_scan_ms", lore.scan_ms)
    report.put("lore_compile_ms", lore.compile_ms)
    report.meta["lore"] = {
        "entries": lore.entries,
        "scan_depth": lore.scan_depth,
        "keys": lore.keys,
        "fired": lore.fired,
        "dropped": lore.dropped,
        "samples": lore.samples,
    }


def build_report(
    model: ModelFigures,
    storage: StorageFigures,
    *,
    elapsed: float,
    meta: dict[str, Any],
    lore: LoreFigures | None = None,
    long_scene: LongSceneFigures | None = None,
    recall: RecallFigures | None = None,
    streaming: StreamFigures | None = None,
    views: ViewFigures | None = None,
) -> Report:
    """Medians and ratios from the raw samples."""
    report = Report(meta=dict(meta))
    put = report.put
    _put_lore(report, lore)
    put_recall(report, recall)
    put_streaming(report, streaming)
    put_views(report, views)
    if long_scene is not None:
        for key, value in asdict(long_scene).items():
            put(f"long_scene_{key}", float(value))

    round_s, bare_s = _med(model.round_s), _med(model.bare_s)
    put("overhead_round_s", round_s)
    put("overhead_bare_s", bare_s)
    put("overhead_tokens", _med(model.round_tokens))
    put_overhead(report, model)

    cold, warm, switch = _med(model.cold_s), _med(model.warm_s), _med(model.switch_s)
    put("ttft_cold_s", cold)
    put("ttft_warm_s", warm)
    put("ttft_switch_s", switch)
    put("warm_ratio", _ratio(warm, cold) if warm and cold else None)
    put("switch_ratio", _ratio(switch, cold) if switch and cold else None)
    put("cold_prompt_tokens", _med(model.cold_prompt_tokens))
    put(
        "engine_reuse_ratio",
        _ratio(model.engine_reused_tokens, model.engine_prompt_tokens),
    )
    put("prefix_hit_ratio", model.reuse)
    put("prefix_hit_unaligned_ratio", model.reuse_unaligned)
    put("reuse_prompt_tokens", float(model.reuse_prompt_tokens) or None)
    if model.lore_reuse is not None:
        with_lore, without = model.lore_reuse
        put("lore_prefix_hit", with_lore)
        put("lore_free_prefix_hit", without)
        put("lore_reuse_ratio", _ratio(with_lore, without))

    points = storage.points
    for point in points:
        put(f"append_ms_{point.turns}", point.append_ms)
        put(f"window_ms_{point.turns}", point.window_ms)
    if points:
        first, last = points[0], points[-1]
        put("storage_turns", float(last.turns))
        put("append_ms", last.append_ms)
        put("window_ms", last.window_ms)
        put("append_growth_ratio", _ratio(last.append_ms, first.append_ms))
        put("window_growth_ratio", _ratio(last.window_ms, first.window_ms))
        put("raw_window_ms", last.raw_window_ms)
        if last.raw_window_ms:
            put("storage_ratio", _ratio(last.window_ms, last.raw_window_ms))
        put("seed_rows_per_s", storage.seed_rows_per_s or None)

    put("peak_rss_mb", peak_rss_bytes() / MiB)
    put("kv_cache_budget_mb", model.kv_budget_bytes / MiB or None)
    put("kv_cache_used_mb", model.kv_used_bytes / MiB or None)
    put("kv_cache_peak_mb", model.kv_peak_bytes / MiB or None)
    put("kv_state_mb", model.kv_state_bytes / MiB or None)
    put("kv_state_tokens", float(model.kv_state_tokens) or None)
    put(
        "kv_bytes_per_token",
        _ratio(model.kv_state_bytes, model.kv_state_tokens) if model.kv_state_tokens else None,
    )
    put("save_state_mb", model.save_state_bytes / MiB or None)
    put("snapshot_vs_save_state_ratio", _ratio(model.kv_state_bytes, model.save_state_bytes))
    put(
        "kv_limit_ratio",
        _ratio(model.kv_peak_bytes, model.kv_budget_bytes + model.kv_state_bytes)
        if model.kv_peak_bytes
        else None,
    )
    after_update, no_update = model.summary_ttft_s
    put("summary_update_ttft_s", _med(after_update))
    put("summary_none_ttft_s", _med(no_update))
    # Each update sample against the sample without one just before it, in the same channel.
    put("summary_delay_ratio", paired_ratio(after_update, no_update))
    put("elapsed_s", elapsed)
    report.meta["cache_stats"] = model.cache_stats
    report.meta["window_moves"] = model.reuse_window_moves
    if model.notes:
        report.meta["notes"] = model.notes
    return report


def seconds(value: float | None) -> str:
    """A duration for the table."""
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def number(value: float | None, digits: int = 3) -> str:
    """A figure for the table."""
    return "—" if value is None else f"{value:.{digits}f}"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MiB" if value >= 10 else f"{value:.1f} MiB"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def lore_verdict(value: float | None) -> str:
    """Lore must keep at least LORE_REUSE_TARGET of the lore-free prefix reuse."""
    if value is None:
        return "[yellow]not measured[/]"
    met = "[green]met[/]" if value >= LORE_REUSE_TARGET else "[red]not met[/]"
    return f"≥ {LORE_REUSE_TARGET:g} {met}"


def verdict(value: float | None, target: float) -> str:
    """Whether a figure meets its target, coloured."""
    if value is None:
        return "[yellow]not measured[/]"
    return f"≤ {target:g} [green]met[/]" if value <= target else f"≤ {target:g} [red]not met[/]"


def _long_scene_rows(table: Table, f: Callable[[str], float | None]) -> None:
    """Export and clear of one long scene: wall time, and the longest event-loop stall."""
    turns = f("long_scene_turns") or 0
    size = (f("long_scene_export_bytes") or 0) / MiB
    for name, what in (("export", f"transcript ({size:.1f} MB)"), ("clear", "delete in batches")):
        table.add_row(
            f"{turns:,.0f}-turn scene: {name}, {what}; longest event-loop stall",
            seconds(f(f"long_scene_{name}_s")),
            f"{number(f(f'long_scene_{name}_stall_ms'), 0)} ms",
            "",
            verdict(f(f"long_scene_{name}_stall_ms"), STALL_TARGET_MS).replace("≤ ", "stall ≤ ", 1)
            + " ms",
        )


def render(report: Report) -> Table:
    """The side-by-side table."""
    f = report.get
    meta = report.meta
    table = Table(
        title=(
            f"tavernkeep bench ({meta.get('profile')}): {meta.get('model')}, "
            f"N_CTX={meta.get('n_ctx')}, {meta.get('threads')}, "
            f"OMP_WAIT_POLICY={meta.get('omp_wait_policy')}"
        ),
        title_justify="left",
        caption=(
            "medians; warm / switching / cold are time to first token of the next NPC turn; "
            "targets are figures for this machine, not test thresholds"
        ),
        caption_justify="left",
    )
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")

    overhead_row(table, f, meta)
    phase_rows(table, f, meta)
    table.add_row(
        f"warm vs cold ({f('cold_prompt_tokens') or 0:,.0f}-token prompt, "
        f"n={meta.get('warm_samples')}/{meta.get('cold_samples')})",
        seconds(f("ttft_warm_s")),
        seconds(f("ttft_cold_s")),
        number(f("warm_ratio")),
        verdict(f("warm_ratio"), WARM_TARGET),
    )
    table.add_row(
        f"switching, {meta.get('channels')} channels round-robin vs cold "
        f"(n={meta.get('switch_samples')})",
        seconds(f("ttft_switch_s")),
        seconds(f("ttft_cold_s")),
        number(f("switch_ratio")),
        verdict(f("switch_ratio"), SWITCH_TARGET),
    )
    table.add_row(
        "prompt tokens reused by the engine (warm + switching)",
        _pct(f("engine_reuse_ratio")),
        "",
        "",
        "",
    )
    table.add_row(
        f"prefix reuse over budget ({f('reuse_prompt_tokens') or 0:,.0f}-token prompts): "
        "TRIM_STEP vs turn-by-turn",
        _pct(f("prefix_hit_ratio")),
        _pct(f("prefix_hit_unaligned_ratio")),
        "",
        "",
    )
    table.add_row(
        "prefix reuse over 20 turns: a 200-entry lorebook vs none",
        _pct(f("lore_prefix_hit")),
        _pct(f("lore_free_prefix_hit")),
        number(f("lore_reuse_ratio"), 2),
        lore_verdict(f("lore_reuse_ratio")),
    )
    view_rows(table, f, meta)
    table.add_section()
    points = meta.get("storage_sizes", [])
    for size in points:
        table.add_row(
            f"storage at {size:,} turns: append / window(128)",
            f"{number(f(f'append_ms_{size}'), 2)} ms",
            f"{number(f(f'window_ms_{size}'), 2)} ms",
            "",
            "",
        )
    if points:
        table.add_row(
            f"window read at {points[-1]:,} vs {points[0]:,} turns "
            f"(append: {number(f('append_growth_ratio'), 2)}x)",
            f"{number(f('window_ms'), 2)} ms",
            f"{number(f(f'window_ms_{points[0]}'), 2)} ms",
            number(f("window_growth_ratio"), 2),
            verdict(f("window_growth_ratio"), WINDOW_GROWTH_TARGET),
        )
        table.add_row(
            f"window read at {points[-1]:,} turns: the store vs plain sqlite3 on the same file",
            f"{number(f('window_ms'), 2)} ms",
            f"{number(f('raw_window_ms'), 2)} ms",
            number(f("storage_ratio"), 2),
            verdict(f("storage_ratio"), STORAGE_TARGET),
        )
    if f("long_scene_turns"):
        _long_scene_rows(table, f)
    lore = meta.get("lore")
    if lore:
        table.add_section()
        table.add_row(
            f"lore activation: {lore['entries']:,}-entry book, scan depth "
            f"{lore['scan_depth']}, {lore['fired']:.0f} fired (compiled once: "
            f"{number(f('lore_compile_ms'), 0)} ms)",
            f"{number(f('lore_scan_ms'), 2)} ms",
            "",
            "",
            verdict(f("lore_scan_ms"), LORE_SCAN_TARGET_MS),
        )
    recall_rows(table, f, meta)
    table.add_section()
    table.add_row(
        "story so far: next reply's first token after a summary update vs none due",
        seconds(f("summary_update_ttft_s")),
        seconds(f("summary_none_ttft_s")),
        number(f("summary_delay_ratio")),
        verdict(f("summary_delay_ratio"), SUMMARY_DELAY_TARGET),
    )
    streaming_rows(table, f)
    table.add_section()
    table.add_row("peak resident memory (ru_maxrss)", _mb(f("peak_rss_mb")), "", "", "")
    budget, state = f("kv_cache_budget_mb"), f("kv_state_mb")
    table.add_row(
        f"KV snapshots: in use (peak), {meta.get('kv_snapshots')} stored, "
        "vs KV_CACHE_MB + one state",
        f"{_mb(f('kv_cache_used_mb'))} ({_mb(f('kv_cache_peak_mb'))})",
        f"{_mb(budget)} + {_mb(state)}",
        number(f("kv_limit_ratio")),
        verdict(f("kv_limit_ratio"), 1.0),
    )
    per_token = f("kv_bytes_per_token")
    table.add_row(
        f"one channel's state ({f('kv_state_tokens') or 0:,.0f} tokens, "
        f"{(per_token or 0) / 1024:.1f} KiB/token) vs Llama.save_state()",
        _mb(state),
        _mb(f("save_state_mb")),
        number(f("snapshot_vs_save_state_ratio")),
        "",
    )
    return table
