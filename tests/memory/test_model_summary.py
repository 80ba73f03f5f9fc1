"""The story so far on the real demo model: a 300-turn scene at N_CTX=2048 (issue 11); chapters."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from bot.director import SceneView, TurnDirector
from bot.domain import CancelToken
from bot.engine.base import Sampler
from bot.engine.llama import LlamaEngine
from bot.engine.recording import Call, RecordingEngine
from bot.memory import Summarizer, SummaryConfig
from bot.memory.chapters import ChapterConfig
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import SHARED_VIEW, Database, Scene, Stores, view_key
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
MAX_ROUNDS = 8  # only against a summariser that never catches up
PASSWORD = "Quillfeather"
CHAPTER_TURNS = 100  # closes after a couple of steps of the 300-turn scene


class Harbor:
    """The example scene with `turns` seeded turns, the demo model recorded, a summariser."""

    def __init__(self, stores: Stores, scene: Scene, recorder: RecordingEngine) -> None:
        self.stores = stores
        self.scene = scene
        self.recorder = recorder
        self.director = TurnDirector(recorder, stores.turns)
        self.summarizer = Summarizer(
            recorder, self.director, stores.turns, stores.summaries, SummaryConfig(max_tokens=96)
        )
        self.views = SceneViews(stores, Sampler(seed=7, max_tokens=48))

    async def view(self) -> SceneView:
        fresh = await self.views.view(await self.stores.scenes.get(self.scene.id))
        return replace(fresh, max_replies=1)

    def summaries(self) -> list[Call]:
        return [c for c in self.recorder.calls if is_summary(c.request)]


async def harbor(engine: LlamaEngine, db: Database, turns: int) -> Harbor:
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    lines = itertools.cycle(PLAYER_LINES + NPC_LINES)
    for _ in range(turns):  # seeded directly: only the rounds and summaries need the model
        speaker, text = next(lines)
        role = "model" if any(speaker == n for n, _ in NPC_LINES) else "user"
        await stores.turns.append(scene.id, role=role, speaker=speaker, content=text)
    return Harbor(stores, scene, RecordingEngine(engine))


@pytest.mark.asyncio(loop_scope="module")
async def test_a_300_turn_scene_keeps_its_story_within_the_budget(
    engine: LlamaEngine, db: Database
) -> None:
    h = await harbor(engine, db, SCENE_TURNS)
    for _ in range(MAX_ROUNDS):
        result = await h.director.run_round(await h.view())
        assert result.turns, "the demo model replied"
        before = len(h.summaries())
        stored = await h.summarizer.catch_up(h.view, CancelToken())
        # One view (nobody whispered), so one step a round: the backlog takes a few rounds.
        assert stored <= 1 and len(h.summaries()) - before <= 1
        if not stored:
            break

    summary = await h.stores.summaries.get(h.scene.id)
    assert summary is not None and summary.text, "the demo model wrote a story so far"
    assert list(await h.stores.summaries.views(h.scene.id)) == [SHARED_VIEW]
    summaries = h.summaries()
    assert summaries and all(c.completion.text.strip() for c in summaries[-1:])
    # It covers the turns that left the window: fewer than one coarse step are left uncovered.
    plan = await h.director.build_prompt(await h.view())
    assert summary.through > SCENE_TURNS // 2 and plan.history[0].seq > summary.through
    uncovered = await h.stores.turns.lines_after(
        h.scene.id, summary.through, 99, before_seq=plan.history[0].seq
    )
    assert len(uncovered) < SummaryConfig().min_turns
    assert f"Story so far: {summary.text}" in plan.rendered.text
    # No request, round or summary, ever asked for more than the context holds.
    for call in h.recorder.calls:
        assert call.completion.prompt_tokens + call.request.sampler.max_tokens <= N_CTX
    sampler = (await h.view()).sampler
    assert await engine.count_tokens(plan.rendered.prompt) + sampler.max_tokens <= N_CTX


@pytest.mark.asyncio(loop_scope="module")
async def test_a_whisper_reaches_only_its_npc_s_story(engine: LlamaEngine, db: Database) -> None:
    h = await harbor(engine, db, 12)
    marta = next(c for c in await h.stores.scenes.cast(h.scene.id) if c.name == "Marta Vell")
    secret = f"The smugglers' password is {PASSWORD}."
    await h.stores.turns.append(
        h.scene.id, role="user", speaker="Rook", content=secret, kind="whisper", audience=[marta.id]
    )
    lines = itertools.cycle(PLAYER_LINES)
    for _ in range(110):
        speaker, text = next(lines)
        await h.stores.turns.append(h.scene.id, role="user", speaker=speaker, content=text)

    assert await h.summarizer.catch_up(h.view, CancelToken()) == 2

    stories = await h.stores.summaries.views(h.scene.id)
    assert set(stories) == {SHARED_VIEW, view_key(marta.id)}, "the others share one story"
    shared_call, marta_call = h.summaries()
    assert PASSWORD not in shared_call.request.prompt.text
    assert f"Rook (in private): {secret}" in marta_call.request.prompt.text
    assert all(story.text for story in stories.values()), "the demo model wrote both"
    assert PASSWORD not in stories[SHARED_VIEW].text
    for call in h.recorder.calls:
        assert call.completion.prompt_tokens + call.request.sampler.max_tokens <= N_CTX


@pytest.mark.asyncio(loop_scope="module")
async def test_the_demo_model_closes_a_chapter_that_later_updates_leave_be(
    engine: LlamaEngine, db: Database
) -> None:
    h = await harbor(engine, db, SCENE_TURNS)
    h.summarizer.use_chapters(h.stores.chapters, ChapterConfig(turns=CHAPTER_TURNS))
    story = None  # as it stood before the round that closed it
    for _ in range(MAX_ROUNDS):
        story = await h.stores.summaries.get(h.scene.id)
        await h.summarizer.catch_up(h.view, CancelToken())
        if await h.stores.chapters.of_view(h.scene.id):
            break
    [chapter] = await h.stores.chapters.of_view(h.scene.id)
    assert story is not None and chapter.text == story.text, "the story as it stood"
    assert (chapter.first_seq, chapter.last_seq) == (1, story.through)
    assert chapter.last_seq >= CHAPTER_TURNS
    assert chapter.title and "\n" not in chapter.title and len(chapter.title) <= 100
    titled = [c for c in h.recorder.calls if c.request.prompt.text.endswith("Chapter title:")]
    assert len(titled) == 1, "the demo model was asked for the title once"
    after = await h.stores.summaries.get(h.scene.id)
    assert after is not None and after.through == chapter.last_seq
    assert after.text.startswith(f"Previously ({chapter.title}): ")

    lines = itertools.cycle(PLAYER_LINES)
    for _ in range(120):  # the story goes on and is rewritten; the chapter stays as it was
        speaker, text = next(lines)
        await h.stores.turns.append(h.scene.id, role="user", speaker=speaker, content=text)
    assert await h.summarizer.catch_up(h.view, CancelToken()) == 1
    story = await h.stores.summaries.get(h.scene.id)
    assert story is not None and story.text != after.text and story.through > chapter.last_seq
    assert await h.stores.chapters.of_view(h.scene.id) == [chapter]
    for call in h.recorder.calls:
        assert call.completion.prompt_tokens + call.request.sampler.max_tokens <= N_CTX
