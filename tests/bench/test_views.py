"""The views bench on the demo model: its scene really gives each NPC a view of its own, and
both figures come out as ratios. No timing assertions: only presence, range and cache events."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from bot.bench.channels import Channel
from bot.bench.model import ModelBench
from bot.bench.report import build_report
from bot.bench.sizes import QUICK
from bot.bench.storage import StorageFigures
from bot.bench.views import ViewSizes, measure_views, npc_turn, view_scene
from bot.core import open_core, sampler_from
from bot.settings import load_settings

pytestmark = pytest.mark.model

LEAD = 2  # turns before each entrance: enough for views to differ, short prompts


@pytest_asyncio.fixture
async def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModelBench]:
    monkeypatch.delenv("MODEL_PATH", raising=False)  # the demo model
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}",
        n_ctx=4096,
        seed=1234,
        kv_cache_mb=256,
    )
    core = await open_core(settings)
    try:
        sampler = replace(sampler_from(settings), max_tokens=QUICK.reply_tokens)
        yield ModelBench(core, QUICK, sampler, lambda _line: None)
    finally:
        await core.close()


async def _seen(bench: ModelBench, channel: Channel) -> list[frozenset[int]]:
    """The seqs of the turns each NPC of the scene witnessed, in entrance order."""
    turns = bench.core.stores.turns
    views = []
    for npc in channel.npcs:
        lines = await turns.lines(channel.scene.id, 1000, witness=npc.id)
        views.append(frozenset(line.seq for line in lines))
    return views


async def test_each_npc_of_the_scene_has_a_view_of_its_own(bench: ModelBench) -> None:
    own = await view_scene(bench, 905, LEAD, shared=False)
    first, second, third = await _seen(bench, own)
    # Each entrance missed the turns before it; only the first NPC heard the whisper.
    assert third < second and not first <= second and not first <= third
    assert len({first, second, third}) == 3
    turns, scene_id = bench.core.stores.turns, own.scene.id
    last = max(first | second | third)
    assert last in first and last not in second | third  # the whisper
    for npc in own.npcs:
        assert await turns.has_own_view(scene_id, npc.id, last)
    # The director builds each NPC's prompt from its own view, under its own KV key.
    plans = [await bench.director.build_prompt(own.view, npc.name) for npc in own.npcs]
    assert [frozenset(t.seq for t in plan.history) for plan in plans] == [first, second, third]
    assert len({plan.channel for plan in plans}) == 3


async def test_in_the_shared_scene_everyone_witnessed_everything(bench: ModelBench) -> None:
    shared = await view_scene(bench, 905, LEAD, shared=True)
    views = await _seen(bench, shared)
    assert len(set(views)) == 1
    own = await view_scene(bench, 905, LEAD, shared=False)
    # The same turns: the scenes differ only in who witnessed them.
    assert len(views[0]) == len(await bench.core.stores.turns.lines(own.scene.id, 1000))


async def test_a_views_next_prompt_reuses_its_reply(bench: ModelBench) -> None:
    own = await view_scene(bench, 905, LEAD, shared=False)
    first, second, _ = own.npcs
    before = await npc_turn(bench, own, first)
    await npc_turn(bench, own, second)
    after = await npc_turn(bench, own, first)
    # Its snapshot holds its prompt and its reply, as generating the reply would leave it.
    assert after.request.channel == before.request.channel
    assert after.reused_tokens > before.prompt_tokens


async def test_both_figures_come_out_as_ratios(bench: ModelBench) -> None:
    figures = await measure_views(bench, ViewSizes(LEAD, switch_samples=2), lambda _: None, turns=6)
    assert figures.own_keys == figures.npcs == 3
    assert figures.own_reuse is not None and 0 < figures.own_reuse <= 1
    assert figures.shared_reuse is not None and 0 < figures.shared_reuse <= 1
    assert len(figures.warm_s) == len(figures.cold_s) == 2
    # Every timed switch found its view's snapshot: warm means restored, not merely live;
    # and cold means the whole prompt evaluated.
    assert figures.restores == 2
    assert figures.cold_reused == 0
    # A warm switch evaluates what its view has not seen yet: a few turns, not the prompt.
    shortest = min(figures.prompt_tokens)
    assert all(0 < new < shortest / 2 for new in figures.warm_new_tokens)
    report = build_report(
        bench.figures, StorageFigures(), elapsed=1.0, meta={"profile": "quick"}, views=figures
    )
    data = report.as_json()
    for key in ("view_reuse_ratio", "view_switch_ratio", "ttft_view_warm_s", "ttft_view_cold_s"):
        assert math.isfinite(data[key]) and data[key] > 0, key
    assert data["view_reuse_ratio"] == pytest.approx(figures.own_reuse / figures.shared_reuse)
    assert data["meta"]["views"]["own_keys"] == 3
