"""A voice per NPC: its own sampler, length and backend in its own turns, never in the choices."""

from __future__ import annotations

from dataclasses import replace

from bot.domain import Voice
from bot.engine.base import GenerationRequest
from bot.store import Database
from tests.director.table_scene import SEED, table
from tests.scripted_engine import ScriptedEngine

MARTA = Voice(temperature=0.35, min_p=0.2, max_tokens=77, length="long", backend="narrator")


def _sampler_of(request: GenerationRequest) -> tuple[float, float, int]:
    return request.sampler.temperature, request.sampler.min_p, request.sampler.max_tokens


async def test_an_npc_s_voice_reaches_its_own_request_and_no_other(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Marta Vell:", "Sergeant Hale:"],
        texts=["Off my pier.", "Halt."],
        floors=["Response", "Response", "Input"],
    )
    t = await table(db, engine, fmt="alpaca-limarp")
    t.scene = await t.stores.scenes.update(t.scene.id, length="short")
    view = await t.view(marta=MARTA)
    scene = view.sampler
    result = await t.director.run_round(view, may_pass=True)
    assert [x.speaker for x in result.turns] == ["Marta Vell", "Sergeant Hale"]
    marta, hale = engine.of_kind("text")
    # Her own sampler (the scene's seed kept), length and backend.
    assert _sampler_of(marta) == (0.35, 0.2, 77) and marta.sampler.seed == SEED
    assert marta.sampler.top_p == scene.top_p and marta.backend == "narrator"
    assert marta.prompt.text.endswith("### Response: (length = long)\nMarta Vell:")
    # Hale has no voice of his own: the scene's.
    assert hale.sampler == scene and hale.backend is None
    assert hale.prompt.text.endswith("### Response: (length = short)\nSergeant Hale:")
    # The choices (floor before and after each turn, speakers) stay on the scene's sampler
    # (their own max tokens) and the default backend.
    choices = [*engine.of_kind("speaker"), *engine.of_kind("floor")]
    assert len(choices) == 5
    for asked in choices:
        assert asked.backend is None
        assert replace(asked.sampler, max_tokens=scene.max_tokens) == scene
        assert "length = long" not in asked.prompt.text


async def test_a_swipe_and_a_continue_keep_the_npc_s_voice(db: Database) -> None:
    engine = ScriptedEngine(texts=["First.", "Second.", "and more."], floors=["Input"])
    t = await table(db, engine, fmt="alpaca-limarp")
    view = await t.view(marta=MARTA)
    (turn,) = (await t.director.run_round(view, forced="Marta Vell")).turns
    swiped = await t.director.swipe(view, turn)
    await t.director.extend(view, swiped)
    _, swipe, extend = engine.of_kind("text")
    for request in (swipe, extend):
        assert _sampler_of(request) == (0.35, 0.2, 77) and request.backend == "narrator"
        assert "### Response: (length = long)\nMarta Vell:" in request.prompt.text
    assert swipe.sampler.seed != SEED  # a swipe still shifts the seed, on top of the voice


async def test_the_prompt_budget_keeps_room_for_the_npc_s_own_max_tokens(db: Database) -> None:
    engine = ScriptedEngine(n_ctx=2048)
    t = await table(db, engine)
    for i in range(150):
        await t.post(f"Post {i} of a long evening at the harbor wall.")
    view = await t.view(marta=Voice(max_tokens=1200))
    plain = await t.director.build_prompt(view, "Sergeant Hale")
    long = await t.director.build_prompt(view, "Marta Vell")
    words = len(long.rendered.prompt.text.split())
    assert words + 1200 <= 2048 < len(plain.rendered.prompt.text.split()) + 1200
