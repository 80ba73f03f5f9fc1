"""One GPU_MEMORY_LIMIT_MB cap, measured in a process of its own: the bot's real load path
(settings -> core -> engine with N_GPU_LAYERS=auto), first tokens on a 4,000-token channel, and
director rounds, with the free VRAM read after the load and after the rounds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from statistics import median
from typing import Any

from bot.bench.model import ModelBench
from bot.bench.sizes import BenchSizes
from bot.core import open_core, sampler_from
from bot.engine.gpu import detect_gpus
from bot.engine.llama import LlamaEngine
from bot.engine.recording import Call
from bot.settings import load_settings

GPU_SIZES = BenchSizes(
    name="gpu",
    min_ctx=4096,
    channels=1,
    history_tokens=4000,
    reply_tokens=64,
    warm_repeats=3,
    paired_colds=1,
    switch_passes=0,
    overhead_repeats=3,
    overhead_tokens=64,
    reuse_rounds=0,
    storage_sizes=(),
    storage_samples=0,
)
N_CTX = 8192
SEED = 1234


def free_vram_bytes() -> int | None:
    """Free memory summed over the NVIDIA GPUs (NVML, else nvidia-smi); None without one."""
    gpus = detect_gpus()
    return sum(gpu.free_bytes for gpu in gpus) if gpus else None


def generation_rate(call: Call) -> float | None:
    """Tokens per second after the first token (the decode speed alone)."""
    done = call.completion
    first = done.first_token_seconds
    if first is None or done.generated_tokens < 2 or done.total_seconds <= first:
        return None
    return (done.generated_tokens - 1) / (done.total_seconds - first)


def _median(values: list[float]) -> float | None:
    return float(median(values)) if values else None


async def measure_cap(model: Path, cap_mb: int | None, database: Path) -> dict[str, Any]:
    """Load the model as the bot does under `cap_mb` and time first tokens and rounds."""
    settings = load_settings(
        model_path=model,
        n_gpu_layers="auto",
        gpu_memory_limit_mb=cap_mb,
        n_ctx=N_CTX,
        database_url=f"sqlite+aiosqlite:///{database}",
    )
    sampler = replace(sampler_from(settings), seed=SEED, max_tokens=GPU_SIZES.reply_tokens)
    notes: list[str] = []
    core = await open_core(settings)
    try:
        engine = core.engine
        if not isinstance(engine, LlamaEngine):
            raise TypeError("the GPU check measures the in-process engine")
        result: dict[str, Any] = {
            "engine_layers": engine.options.n_gpu_layers,
            "load_s": engine.load_seconds,
            "free_after_load_bytes": free_vram_bytes(),
            "n_ctx": N_CTX,
            "n_batch": engine.options.n_batch,
            "flash_attn": engine.options.flash_attn,
            "kv_cache_type": engine.options.kv_cache_type,
            "threads": getattr(engine.llm, "n_threads", None),
        }
        bench = ModelBench(core, GPU_SIZES, sampler, notes.append)
        await bench.warm_up()
        channel = await bench.new_channel(100, GPU_SIZES.history_tokens)
        await bench.cold_pass([channel])
        await bench.warm(channel)
        seen = len(bench.recorder.calls)
        await bench.overhead(channel)
        rates = [generation_rate(call) for call in bench.recorder.calls[seen:]]
        figures = bench.figures
        cold_pp = [t / s for t, s in zip(figures.cold_prompt_tokens, figures.cold_s, strict=False)]
        result.update(
            free_after_rounds_bytes=free_vram_bytes(),
            prompt_tokens=max(figures.cold_prompt_tokens, default=None),
            cold_ttft_s=_median(figures.cold_s),
            warm_ttft_s=_median(figures.warm_s),
            cold_pp_tps=_median(cold_pp),
            round_tg_tps=_median([rate for rate in rates if rate is not None]),
            round_s=_median(figures.round_s),
            bare_s=_median(figures.bare_s),
            round_tokens=figures.round_tokens,
            notes=notes + figures.notes,
        )
        return result
    finally:
        await core.close()
