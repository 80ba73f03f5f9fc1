"""`tavernkeep bench`: bot overhead, KV-cache reuse, storage and lore, measured side by side.

Everything runs in one process against a scratch SQLite file (never DATABASE_URL) and the
configured model (MODEL_PATH, else the demo model), with N_CTX raised to at least 4,096.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.bench.long_scene import measure_long_scene
from bot.bench.lore import generated_book, measure_lore
from bot.bench.model import ModelBench
from bot.bench.phase_report import pair_ratios
from bot.bench.recall import measure_recall
from bot.bench.report import build_report, render
from bot.bench.sizes import FULL, QUICK, BenchSizes
from bot.bench.storage import StorageFigures, measure_storage
from bot.bench.streaming import STREAM_SAMPLES, measure_streaming
from bot.bench.summary import measure_summary_delay
from bot.bench.views import measure_views, view_sizes
from bot.core import open_core, sampler_from
from bot.settings import Settings

__all__ = ["FULL", "QUICK", "BenchSizes", "run_bench"]

BENCH_SEED = 1234
LORE_REUSE_ROUNDS, LORE_REUSE_ENTRIES = 20, 200  # issue #11's lore_reuse figure


def _steps(sizes: BenchSizes) -> int:
    return (
        1  # load
        + 1  # histories
        + sizes.channels  # cold pass
        + sizes.warm_repeats
        + sizes.switch_passes * sizes.channels
        + sizes.overhead_repeats
        + 2  # prefix reuse, aligned and not
        + 1  # prefix reuse with lore
        + 3  # recall: recall@5, one prompt's retrieval, prefix reuse on and off
        + 1  # prefix reuse with own views
        + view_sizes(sizes.name).switch_samples  # view switches, warm and cold
        + len(sizes.storage_sizes)
        + 1  # lore activation
        + 1  # long scene
        + sizes.summary_samples * 2  # next replies with and without a summary update
        + STREAM_SAMPLES.get(sizes.name, STREAM_SAMPLES["full"])  # streamed vs whole rounds
    )


async def run_bench(
    settings: Settings,
    *,
    quick: bool = False,
    json_path: Path | str | None = None,
    console: Console | None = None,
) -> int:
    """Run every phase, print the table, write the JSON; returns the exit code."""
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    sizes = QUICK if quick else FULL
    started = time.perf_counter()
    sampler = sampler_from(settings)
    sampler = replace(
        sampler,
        seed=settings.seed if settings.seed >= 0 else BENCH_SEED,
        max_tokens=sizes.reply_tokens,
    )
    n_ctx = max(settings.n_ctx, sizes.min_ctx)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("loading the model", total=_steps(sizes))

    def note(line: str) -> None:
        progress.console.print(f"  [dim]{line}[/]")
        progress.advance(task)

    def phase(name: str) -> None:
        progress.update(task, description=name)
        progress.console.print(f"[bold]{name}[/]")

    with tempfile.TemporaryDirectory(prefix="tavernkeep-bench-") as tmp, progress:
        scratch = settings.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                "n_ctx": n_ctx,
            }
        )
        core = await open_core(scratch)
        try:
            bench = ModelBench(core, sizes, sampler, note)
            await bench.warm_up()
            note(f"model loaded in {bench.engine.load_seconds:.2f} s")
            phase(f"seeding {sizes.channels} channels with ~{sizes.history_tokens:,} tokens each")
            channels = await bench.long_channels()
            note(f"{sizes.channels} channels ready")
            phase("cold: every channel's first prompt from an empty context")
            await bench.cold_pass(channels)
            phase("warm: new player messages in the live channel")
            await bench.warm(channels[-1])
            phase(f"switching: {sizes.channels} channels round-robin")
            await bench.switching(channels)
            phase("overhead: director round vs bare Llama on the same prompt")
            await bench.overhead(channels[-1])
            phase("prefix reuse in a channel over its budget")
            hit, moves, prompt = await bench.prefix_reuse(900)
            note(f"aligned trimming: {hit:.1%} of prompt tokens reused, window moved {moves}x")
            unaligned, _, _ = await bench.prefix_reuse(900, aligned=False)
            note(f"turn-by-turn trimming: {unaligned:.1%} reused")
            bench.figures.reuse, bench.figures.reuse_unaligned = hit, unaligned
            bench.figures.reuse_window_moves, bench.figures.reuse_prompt_tokens = moves, prompt
            phase("lore: prefix reuse over 20 turns with a 200-entry lorebook, and without")
            plain, _, _ = await bench.prefix_reuse(902, rounds=LORE_REUSE_ROUNDS)
            with_lore, _, _ = await bench.prefix_reuse(
                903, rounds=LORE_REUSE_ROUNDS, book=generated_book(LORE_REUSE_ENTRIES)
            )
            bench.figures.lore_reuse = (with_lore, plain)
            note(f"with lore {with_lore:.1%} of prompt tokens reused, without {plain:.1%}")
            phase("views: 3 NPCs, each speaking from what it witnessed, vs all saw everything")
            views = await measure_views(bench, view_sizes(sizes.name), note)
            bench.snapshot_stats()
            phase("storage: append and window(128) as the channel grows")
            storage_channel = await bench.new_channel(901)
            storage: StorageFigures = await measure_storage(
                core.db,
                core.stores.turns,
                storage_channel.scene.id,
                sizes.storage_sizes,
                sizes.storage_samples,
                note,
            )
            phase(f"long scene: export and clear {sizes.long_scene_turns:,} turns")
            long_channel = await bench.new_channel(904)
            long_scene = await measure_long_scene(
                core.db, core.stores, long_channel.scene.id, sizes.long_scene_turns, note
            )
            phase(f"lore: activation over a {sizes.lore_entries:,}-entry lorebook")
            lore = await measure_lore(
                core.director.counter.counts,
                entries=sizes.lore_entries,
                scan_depth=sizes.lore_scan_depth,
                samples=sizes.lore_samples,
                note=note,
            )
            phase("recall: old turns back in NPCs' prompts (recall@5, retrieval, prefix reuse)")
            recall = await measure_recall(core, sampler, sizes.name, note)
            phase("story so far: the next reply after a summary update vs none")
            summary_channel = await bench.new_channel(902, n_ctx * 5 // 4)
            delay = await measure_summary_delay(bench, summary_channel, sizes.summary_samples, note)
            bench.figures.summary_ttft_s = delay
            phase("streaming: an NPC turn shown as it is written vs posted whole")
            streaming = await measure_streaming(bench, sizes.name, note)
            model_figures = bench.figures
            engine_options = bench.engine.options
        finally:
            await core.close()
        progress.update(task, description="done")

    report = build_report(
        model_figures,
        storage,
        lore=lore,
        long_scene=long_scene,
        recall=recall,
        streaming=streaming,
        views=views,
        elapsed=time.perf_counter() - started,
        meta={
            "profile": sizes.name,
            "model": engine_options.model_path.name,
            "n_ctx": n_ctx,
            "threads": (
                f"{engine_options.n_threads} threads"
                if engine_options.n_threads
                else f"default threads ({os.cpu_count()} CPUs)"
            ),
            "n_gpu_layers": engine_options.n_gpu_layers,
            "history_tokens": sizes.history_tokens,
            "channels": sizes.channels,
            "overhead_samples": len(model_figures.round_s),
            "cold_samples": len(model_figures.cold_s),
            "warm_samples": len(model_figures.warm_s),
            "switch_samples": len(model_figures.switch_s),
            "overhead_pair_ratios": [round(r, 4) for r in pair_ratios(model_figures)],
            "round_tokens": model_figures.round_tokens,
            "bare_tokens": model_figures.bare_tokens,
            "storage_sizes": list(sizes.storage_sizes),
            "kv_snapshots": model_figures.kv_snapshots,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            "seed": sampler.seed,
        },
    )
    console.print(render(report))
    if json_path is not None:
        path = Path(json_path)
        path.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"figures written to {path}")
    return 0
