"""The story so far on the real demo model: a 300-turn scene at N_CTX=2048 (issue 11)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from bot.director import SceneView, TurnDirector
from bot.domain import CancelToken
from bot.engine.base import Sampler
from bot.engine.llama import LlamaEngine
from bot.engine.recording import RecordingEngine
from bot.memory import Summarizer, SummaryConfig
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.engine.test_model import N_CTX, PLAYER_LINES
from tests.engine.test_model import engine as engine  # the module's demo model, reused
from tests.memory.helpers import is_summary

pytestmark = pytest.mark.model
SCENE_TURNS = 300
NPC_LINES = (
    ("Marta Vell", "The tithe ship is late, and the harbor fees are still unpaid."),
    ("Old Tobin", "I saw a rowboat without lamps slip past the breakwater."),
    ("Sergeant Hale", "Nobody leaves the pier until the chain is mended."),
)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_300_turn_scene_keeps_its_story_within_the_budget(
    engine: LlamaEngine, db: Database
) -> None:
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    lines = itertools.cycle(PLAYER_LINES + NPC_LINES)
    for _ in range(SCENE_TURNS):  # seeded directly: only the rounds and summaries need the model
        speaker, text = next(lines)
        role = "model" if any(speaker == n for n, _ in NPC_LINES) else "user"
        await stores.turns.append(scene.id, role=role, speaker=speaker, content=text)
    recorder = RecordingEngine(engine)
    director = TurnDirector(recorder, stores.turns)
    summarizer = Summarizer(
        recorder, director, stores.turns, stores.summaries, SummaryConfig(max_tokens=96)
    )
    sampler = Sampler(seed=7, max_tokens=48)
    views = SceneViews(stores, sampler)

    async def view() -> SceneView:
        fresh = await views.view(await stores.scenes.get(scene.id))
        return replace(fresh, max_replies=1)

    for _ in range(2):
        result = await director.run_round(await view())
        assert result.turns, "the demo model replied"
        await summarizer.catch_up(view, CancelToken())

    summary = await stores.summaries.get(scene.id)
    assert summary is not None and summary.text, "the demo model wrote a story so far"
    summaries = [c for c in recorder.calls if is_summary(c.request)]
    assert summaries and all(c.completion.text.strip() for c in summaries[-1:])
    # It covers the turns that left the window: fewer than one coarse step are left uncovered.
    plan = await director.build_prompt(await view())
    assert summary.through > SCENE_TURNS // 2 and plan.history[0].seq > summary.through
    uncovered = await stores.turns.lines_after(
        scene.id, summary.through, 99, before_seq=plan.history[0].seq
    )
    assert len(uncovered) < SummaryConfig().min_turns
    assert f"Story so far: {summary.text}" in plan.rendered.text
    # No request, round or summary, ever asked for more than the context holds.
    for call in recorder.calls:
        assert call.completion.prompt_tokens + call.request.sampler.max_tokens <= N_CTX
    assert await engine.count_tokens(plan.rendered.prompt) + sampler.max_tokens <= N_CTX
