"""Silence is a choice (`may_pass`) and forced order: who answers, in which order, or nobody."""

from __future__ import annotations

import pytest

from bot.director import DirectorError
from bot.store import Database
from tests.director.table_scene import kinds, table
from tests.scripted_engine import ScriptedEngine


async def test_the_model_may_hand_the_floor_back_before_anyone_speaks(db: Database) -> None:
    engine = ScriptedEngine(floors=["user"])
    t = await table(db, engine)
    await t.post("Rook, keep your voice down.")
    before = await t.stores.turns.count(t.scene.id)
    result = await t.director.run_round(await t.view(), may_pass=True)
    assert result.ended == "passed" and result.turns == [] and result.generated == []
    assert await t.stores.turns.count(t.scene.id) == before
    assert kinds(engine) == ["floor"]  # asked once, nothing else
    (asked,) = engine.requests
    # The floor question on the prompt as it stands: right after the players' last post.
    assert asked.prompt.text.endswith("Ilse: Rook, keep your voice down.[/INST]\n[INST]")
    assert asked.choices == ("model", "user")
    assert asked.sampler.temperature == t.views.sampler.temperature and asked.backend is None


async def test_when_the_model_keeps_the_floor_the_round_goes_on(db: Database) -> None:
    engine = ScriptedEngine(
        floors=["model", "user"], speakers=["Old Tobin:"], texts=["The fog listens."]
    )
    t = await table(db, engine)
    result = await t.director.run_round(await t.view(), may_pass=True)
    assert result.ended == "players"
    assert [(x.speaker, x.content) for x in result.turns] == [("Old Tobin", "The fog listens.")]
    assert kinds(engine) == ["floor", "speaker", "text", "floor"]
    first_floor, speaker = engine.requests[0], engine.requests[1]
    # One prompt for both choices: the floor question is the speaker question's prompt.
    assert first_floor.prompt.text.startswith(speaker.prompt.text.rsplit("[INST]", 1)[0])


async def test_without_may_pass_the_round_never_asks_before_the_first_turn(db: Database) -> None:
    # A floor answer that would pass is queued: it must not be spent before the first turn.
    engine = ScriptedEngine(floors=["user"], speakers=["Marta Vell:"], texts=["Off my pier."])
    t = await table(db, engine)
    result = await t.director.run_round(await t.view())
    assert [x.speaker for x in result.turns] == ["Marta Vell"]
    assert kinds(engine) == ["speaker", "text", "floor"]


async def test_a_forced_round_never_passes(db: Database) -> None:
    engine = ScriptedEngine(floors=["user", "user"], texts=["Who calls?"])
    t = await table(db, engine)
    result = await t.director.run_round(await t.view(), forced="Old Tobin", may_pass=True)
    assert [x.speaker for x in result.turns] == ["Old Tobin"]
    assert result.ended == "players"
    assert kinds(engine) == ["text", "floor"]  # no floor question before the forced turn


async def test_forced_names_answer_in_the_order_given_muted_ones_too(db: Database) -> None:
    engine = ScriptedEngine(texts=["Halt.", "Hm.", "Well?"], floors=["model"])
    t = await table(db, engine, max_replies=1)
    view = await t.view("Old Tobin")
    result = await t.director.run_round(
        view, forced=("sergeant hale", "Old Tobin", "Marta Vell", "Old Tobin"), may_pass=True
    )
    # Each once, in the order named; max_replies 1 still lets all three answer.
    assert [(x.speaker, x.content) for x in result.turns] == [
        ("Sergeant Hale", "Halt."),
        ("Old Tobin", "Hm."),
        ("Marta Vell", "Well?"),
    ]
    assert result.ended == "cap"
    assert kinds(engine) == ["text", "text", "text"]  # no choice between the named turns
    stored = await t.stores.turns.window(t.scene.id, 3)
    assert [x.content for x in stored] == ["Halt.", "Hm.", "Well?"]


async def test_after_the_named_npcs_the_model_may_go_on(db: Database) -> None:
    engine = ScriptedEngine(
        texts=["Halt.", "Hm.", "Over here."], floors=["model"], speakers=["Marta Vell:"]
    )
    t = await table(db, engine, max_replies=3)
    result = await t.director.run_round(
        await t.view(), forced=["Sergeant Hale", "Old Tobin"], may_pass=True
    )
    assert [x.speaker for x in result.turns] == ["Sergeant Hale", "Old Tobin", "Marta Vell"]
    assert result.ended == "cap"
    assert kinds(engine) == ["text", "text", "floor", "speaker", "text"]
    # The model's choice after them never offers the NPC who just spoke.
    assert "Old Tobin:" not in engine.of_kind("speaker")[0].choices


async def test_an_unknown_name_among_the_forced_is_refused_before_anything_runs(
    db: Database,
) -> None:
    engine = ScriptedEngine()
    t = await table(db, engine)
    before = await t.stores.turns.count(t.scene.id)
    with pytest.raises(DirectorError, match="Rook is not in this scene's cast"):
        await t.director.run_round(await t.view(), forced=("Old Tobin", "Rook"))
    assert engine.requests == [] and await t.stores.turns.count(t.scene.id) == before


async def test_a_muted_npc_is_never_chosen_unprompted(db: Database) -> None:
    # The chooser names the muted NPC every time; it is never offered and never speaks.
    engine = ScriptedEngine(speakers=["Old Tobin:"] * 40, floors=["model"] * 20)
    t = await table(db, engine)
    view = await t.view("Old Tobin")
    spoke = []
    for _ in range(10):
        await t.post("Anyone?")
        result = await t.director.run_round(view, may_pass=True)
        spoke += [x.speaker for x in result.turns]
    assert spoke and "Old Tobin" not in spoke
    assert all("Old Tobin:" not in r.choices for r in engine.of_kind("speaker"))
