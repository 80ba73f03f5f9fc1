"""Director control flow with a scripted engine and a real SQLite store."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.director import DirectorError, GenerationFailed, TurnDirector
from bot.director.budget import TokenCounter, plan_window
from bot.director.text import choice_grammar, clean_reply
from bot.engine.base import Completion, EngineError, Sampler
from bot.prompts import Prompt
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.scripted_engine import ScriptedEngine

EXAMPLE = EXAMPLE_SCENE
NPCS = ["Marta Vell", "Old Tobin", "Sergeant Hale"]


async def _scene(db: Database, engine: ScriptedEngine, max_replies: int = 3):
    stores = Stores.over(db)
    scene, players = await import_scene_file(stores, load_scene_file(EXAMPLE), "group-inst")
    scene = await stores.scenes.update(scene.id, max_replies=max_replies)
    views = SceneViews(stores, Sampler(seed=1))
    director = TurnDirector(engine, stores.turns)
    return stores, views, director, scene, players


async def test_round_stops_at_the_cap(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Old Tobin:", "Marta Vell:", "Old Tobin:"],
        texts=["Fog talks.", "Enough riddles.", "The gate remembers."],
        floors=["model", "model", "model"],
    )
    stores, views, director, scene, _ = await _scene(db, engine, max_replies=3)
    result = await director.run_round(await views.view(scene))
    assert result.ended == "cap"
    assert [t.speaker for t in result.turns] == ["Old Tobin", "Marta Vell", "Old Tobin"]
    stored = await stores.turns.window(scene.id, 3)
    assert [t.content for t in stored] == ["Fog talks.", "Enough riddles.", "The gate remembers."]
    assert len(engine.of_kind("floor")) == 2  # no floor question after the capped last turn


async def test_floor_goes_back_to_the_players(db: Database) -> None:
    engine = ScriptedEngine(speakers=["Sergeant Hale:"], texts=["Halt."], floors=["user"])
    _, views, director, scene, _ = await _scene(db, engine)
    result = await director.run_round(await views.view(scene))
    assert result.ended == "players"
    assert [t.speaker for t in result.turns] == ["Sergeant Hale"]
    floor_prompt = engine.of_kind("floor")[0].prompt.text
    assert floor_prompt.endswith("Sergeant Hale: Halt.[/INST]\n[INST]")
    assert 'root ::= ("model" | "user")' in engine.of_kind("floor")[0].grammar


async def test_same_npc_never_speaks_twice_in_a_row(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Marta Vell:", "Old Tobin:"], texts=["One.", "Two."], floors=["model"]
    )
    _, views, director, scene, _ = await _scene(db, engine, max_replies=2)
    await director.run_round(await views.view(scene))
    # Marta's greeting opens the example scene, then Rook speaks; after Marta's turn
    # the second speaker grammar must not offer her again.
    second = engine.of_kind("speaker")[1].grammar
    assert '"Marta Vell"' not in second
    assert '"Old Tobin"' in second and '"Sergeant Hale"' in second


async def test_speaker_grammar_offers_only_npcs(db: Database) -> None:
    engine = ScriptedEngine(speakers=["Old Tobin:"], texts=["Hm."], floors=["user"])
    _, views, director, scene, _ = await _scene(db, engine)
    await director.run_round(await views.view(scene))
    grammar = engine.of_kind("speaker")[0].grammar
    assert grammar == choice_grammar(NPCS, ":")
    assert "Rook" not in grammar and "Ilse" not in grammar


async def test_forced_speaker_skips_the_choice(db: Database) -> None:
    engine = ScriptedEngine(texts=["Fine, I'll say it."], floors=["user"])
    _, views, director, scene, _ = await _scene(db, engine)
    result = await director.run_round(await views.view(scene), forced="old tobin")
    assert [t.speaker for t in result.turns] == ["Old Tobin"]
    assert engine.of_kind("speaker") == []
    assert engine.of_kind("text")[0].prompt.text.endswith("[INST]model\nOld Tobin:")


async def test_forcing_an_unknown_npc_is_refused(db: Database) -> None:
    engine = ScriptedEngine()
    _, views, director, scene, _ = await _scene(db, engine)
    with pytest.raises(DirectorError, match="not in this scene's cast"):
        await director.run_round(await views.view(scene), forced="Rook")


async def test_empty_reply_is_retried_once_then_reported(db: Database) -> None:
    engine = ScriptedEngine(speakers=["Old Tobin:"], texts=["  ", "\n"])
    stores, views, director, scene, _ = await _scene(db, engine)
    before = await stores.turns.count(scene.id)
    result = await director.run_round(await views.view(scene))
    assert result.ended == "empty" and result.turns == []
    assert "Old Tobin" in (result.notice or "")
    assert len(engine.of_kind("text")) == 2
    assert await stores.turns.count(scene.id) == before


async def test_impersonation_is_cut_before_storing(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Marta Vell:"],
        texts=["Get off my pier.\nRook: Make me.\nMarta Vell: Gladly."],
        floors=["user"],
    )
    stores, views, director, scene, _ = await _scene(db, engine)
    result = await director.run_round(await views.view(scene))
    assert result.turns[0].content == "Get off my pier."
    assert (await stores.turns.last(scene.id)).content == "Get off my pier."


async def test_each_turn_is_stored_before_the_next_is_generated(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Old Tobin:", "Marta Vell:"], texts=["A.", "B."], floors=["model"]
    )
    _, views, director, scene, _ = await _scene(db, engine, max_replies=2)
    await director.run_round(await views.view(scene))
    second_text_prompt = engine.of_kind("text")[1].prompt.text
    assert "Old Tobin: A.[/INST]" in second_text_prompt


async def test_swipe_keeps_the_alternative(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Old Tobin:"], texts=["First take.", "Second take."], floors=["user"]
    )
    _, views, director, scene, _p = await _scene(db, engine)
    view = await views.view(scene)
    (turn,) = (await director.run_round(view)).turns
    swiped = await director.swipe(view, turn)
    assert swiped.content == "Second take."
    assert swiped.swipes == ["First take.", "Second take."]
    assert "First take." not in engine.of_kind("text")[1].prompt.text


async def test_a_swipe_that_repeats_the_text_tries_another_seed_then_refuses(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Old Tobin:"],
        texts=["Same.", "Same.", "Other.", "Same.", "Same."],
        floors=["user"],
    )
    stores, views, director, scene, _p = await _scene(db, engine)
    view = replace(await views.view(scene), sampler=Sampler(seed=5))
    (turn,) = (await director.run_round(view)).turns
    swiped = await director.swipe(view, turn)
    assert swiped.swipes == ["Same.", "Other."]  # the repeat was tried again, not kept
    seeds = [r.sampler.seed for r in engine.of_kind("text")]
    assert seeds[0] == 5 and len(set(seeds[1:3])) == 2 and 5 not in seeds[1:3]
    back = await stores.turns.select_swipe(turn.id, 0)
    with pytest.raises(DirectorError, match="nothing new"):
        await director.swipe(view, back)
    assert (await stores.turns.get(turn.id)).swipes == ["Same.", "Other."]


def test_plan_window_keeps_newest_and_aligns_trims() -> None:
    counts = [10] * 100
    seqs = list(range(1, 101))
    plan = plan_window(50, counts, seqs, budget=50 + 300, step=16)
    assert plan.trimmed and plan.used_tokens <= 350
    # 30 turns fit, so the step shrinks to 8 (at most half the window is given up).
    assert seqs[plan.start] % 8 == 0 and len(counts) - plan.start >= 15
    # Adding a turn keeps the same first turn: the prompt prefix is stable.
    again = plan_window(50, [*counts, 10], [*seqs, 101], budget=350, step=16)
    assert seqs[again.start] == seqs[plan.start]
    whole = plan_window(50, [10] * 5, list(range(1, 6)), budget=1000)
    assert whole.start == 0 and not whole.trimmed and whole.used_tokens == 100


async def test_token_counter_counts_each_block_once() -> None:
    calls: list[list[str]] = []

    async def count_many(prompts: list[Prompt]) -> list[int]:
        calls.append([p.text for p in prompts])
        return [len(p.text) for p in prompts]

    counter = TokenCounter(count_many)
    ab, abc, abcd = (Prompt.plain(t) for t in ("ab", "abc", "abcd"))
    assert await counter.counts([ab, abc]) == [2, 3]
    assert await counter.counts([abc, abcd]) == [3, 4]
    assert calls == [["ab", "abc"], ["abcd"]]
    # The same text as a marker is another block: it tokenizes differently.
    assert await counter.counts([Prompt.special("ab")]) == [2]
    assert calls[-1] == ["ab"]


def test_clean_reply() -> None:
    others = ["Rook", "Old Tobin"]
    assert clean_reply(" Marta Vell: Out! ", "Marta Vell", others) == "Out!"
    assert clean_reply("Fine.\n\n*Rook: nods*\nRook: ok", "Marta Vell", others) == "Fine."
    assert clean_reply("Line one\nline two", "Marta Vell", others) == "Line one\nline two"


def test_clean_reply_drops_a_reply_that_opens_as_someone_else() -> None:
    assert clean_reply(" Rook: Make me.", "Marta Vell", ["Rook", "Ilse", "Old Tobin"]) == ""


async def test_continue_keeps_room_for_the_text_it_extends(db: Database) -> None:
    engine = ScriptedEngine(texts=["More words."], n_ctx=1500)
    stores, views, director, scene, _ = await _scene(db, engine)
    for i in range(150):  # more history than fits
        await stores.turns.append(scene.id, role="user", speaker="Rook", content=f"Line {i} " * 5)
    long_turn = await stores.turns.append(
        scene.id, role="model", speaker="Old Tobin", content="word " * 500
    )
    view = await views.view(scene)
    view = replace(view, sampler=replace(view.sampler, max_tokens=50))
    extended = await director.extend(view, long_turn)
    assert extended.content.endswith("More words.")
    (prompt,) = [r.prompt for r in engine.of_kind("text")]
    assert prompt.text.endswith(" " + long_turn.content)
    (used,) = await engine.count_many([prompt])
    assert used <= 1500 - 50


class FailingEngine(ScriptedEngine):
    """A backend that breaks on the first generation."""

    async def complete(self, *args: object, **kwargs: object) -> Completion:
        raise EngineError("llama_decode returned -3")


async def test_engine_failures_reach_callers_as_the_directors_own_error(db: Database) -> None:
    engine = FailingEngine()
    stores, views, director, scene, _ = await _scene(db, engine)
    view = await views.view(scene)
    before = await stores.turns.count(scene.id)
    with pytest.raises(GenerationFailed) as raised:
        await director.run_round(view, forced="Marta Vell")
    assert isinstance(raised.value, DirectorError)
    assert "llama_decode" not in str(raised.value)  # the user sees a short note, the log the cause
    assert isinstance(raised.value.__cause__, EngineError)
    turn = (await stores.turns.window(scene.id, 1))[0]
    with pytest.raises(GenerationFailed):
        await director.swipe(view, turn)
    with pytest.raises(GenerationFailed):
        await director.extend(view, turn)
    assert await stores.turns.count(scene.id) == before  # nothing half-made was stored


async def test_an_invented_speaker_is_asked_again_colder(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Captain Nobody:", "Old Tobin:"], texts=["Hm."], floors=["user"]
    )
    _, views, director, scene, _ = await _scene(db, engine)
    result = await director.run_round(await views.view(scene))
    assert [t.speaker for t in result.turns] == ["Old Tobin"]
    first, second = engine.of_kind("speaker")
    assert second.sampler.temperature < first.sampler.temperature
    assert second.choices == first.choices == ("Marta Vell:", "Old Tobin:", "Sergeant Hale:")


async def test_a_speaker_never_validly_chosen_falls_back_to_the_first_candidate(
    db: Database,
) -> None:
    engine = ScriptedEngine(speakers=["Rook:", "Captain Nobody:"], texts=["Hm."])
    stores, views, director, scene, _ = await _scene(db, engine)
    result = await director.run_round(await views.view(scene))
    assert len(engine.of_kind("speaker")) == 2
    assert [t.speaker for t in result.turns] == ["Marta Vell"]
    assert {t.speaker for t in await stores.turns.window(scene.id, 50)} <= {*NPCS, "Rook", "Ilse"}


async def test_an_invalid_floor_answer_twice_gives_the_players_the_floor(db: Database) -> None:
    engine = ScriptedEngine(
        speakers=["Old Tobin:"], texts=["Hm.", "Never said."], floors=["system", "Marta"]
    )
    _, views, director, scene, _p = await _scene(db, engine)
    result = await director.run_round(await views.view(scene))
    assert result.ended == "players"
    assert [t.speaker for t in result.turns] == ["Old Tobin"]
    assert len(engine.of_kind("floor")) == 2
    assert engine.of_kind("floor")[0].choices == ("model", "user")


async def test_token_counter_survives_an_eviction_by_another_channels_round() -> None:
    release = asyncio.Event()

    async def count_many(prompts: list[Prompt]) -> list[int]:
        if any(p.text == "slow" for p in prompts):
            await release.wait()
        return [len(p.text) for p in prompts]

    counter = TokenCounter(count_many, capacity=2)
    kept, slow = Prompt.plain("aa"), Prompt.plain("slow")
    await counter.counts([kept])
    waiting = asyncio.ensure_future(counter.counts([kept, slow]))
    await asyncio.sleep(0)  # now waiting on the tokenizer
    assert await counter.counts([Prompt.plain("bbb"), Prompt.plain("c")]) == [3, 1]  # evicts
    release.set()
    assert await waiting == [2, 4]


async def test_suggest_drafts_in_the_players_own_block_and_stores_nothing(db: Database) -> None:
    engine = ScriptedEngine(
        texts=["Rook: *Rook spits into the water.* Not me.\nMarta Vell: Liar.", "Other take."]
    )
    stores, views, director, scene, _ = await _scene(db, engine)
    before = await stores.turns.count(scene.id)
    view = await views.view(scene)
    draft = await director.suggest(view, "Rook", "deny everything")
    assert draft == "*Rook spits into the water.* Not me."  # Marta's line is cut
    (request,) = engine.of_kind("text")
    text = request.prompt.text
    assert text.endswith(
        "[INST]user\nDirection: Rook's next post: deny everything[/INST]\n[INST]user\nRook:"
    )
    assert "\nRook:" not in request.stops
    assert {"\nIlse:", "\nMarta Vell:", "\nOld Tobin:", "\nSergeant Hale:"} <= set(request.stops)
    assert await stores.turns.count(scene.id) == before
    # "Again" reseeds, so a fixed seed still gives another draft; no hint, no direction block.
    await director.suggest(view, "Rook", attempt=1)
    again = engine.of_kind("text")[1]
    assert again.sampler.seed != request.sampler.seed
    assert "Direction:" not in again.prompt.text


async def test_suggest_with_nothing_drafted_is_a_director_error(db: Database) -> None:
    engine = ScriptedEngine(texts=["Marta Vell: I'll answer for him."])
    _, views, director, scene, _ = await _scene(db, engine)
    with pytest.raises(DirectorError, match="no draft for Rook"):
        await director.suggest(await views.view(scene), "Rook")
