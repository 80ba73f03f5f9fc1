"""Muted NPCs: present in the prompt, never the model's choice of speaker, heard when forced."""

from __future__ import annotations

from typing import Any

from bot.director import PromptPlan, TurnDirector
from bot.engine.base import Sampler
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Scene, Stores
from tests.scripted_engine import ScriptedEngine


async def _scene(
    db: Database, engine: ScriptedEngine, *muted: str, max_replies: int = 3
) -> tuple[Stores, SceneViews, TurnDirector, Scene]:
    """The example scene (Marta Vell, Old Tobin, Sergeant Hale) with `muted` muted."""
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    scene = await stores.scenes.update(scene.id, max_replies=max_replies)
    for npc in await stores.scenes.cast(scene.id):
        if npc.name in muted:
            assert await stores.scenes.set_muted(scene.id, npc.id, True)
    return stores, SceneViews(stores, Sampler(seed=1)), TurnDirector(engine, stores.turns), scene


async def test_the_view_marks_muted_npcs_and_keeps_them_in_the_prompt(db: Database) -> None:
    engine = ScriptedEngine()
    _, views, director, scene = await _scene(db, engine, "Old Tobin")
    view = await views.view(scene)
    assert [(m.name, m.muted) for m in view.npcs] == [
        ("Marta Vell", False),
        ("Old Tobin", True),
        ("Sergeant Hale", False),
    ]
    assert [m.name for m in view.choosable] == ["Marta Vell", "Sergeant Hale"]
    # Still present: its sheet is in the prompt the others speak from.
    plan = await director.build_prompt(view, "Marta Vell")
    assert "Old Tobin\nCharacter Bio: **Character Name**: Old Tobin" in plan.rendered.system.text


async def test_a_muted_npc_is_never_chosen_even_when_the_chooser_names_it(db: Database) -> None:
    # The scripted chooser insists on the muted NPC, twice: the grammar never offered it, so the
    # answer is refused and the round falls back to the first NPC it may choose.
    engine = ScriptedEngine(
        speakers=["Old Tobin:", "Old Tobin:", "Old Tobin:", "Old Tobin:"],
        texts=["Mind the fog.", "Halt."],
        floors=["model"],
    )
    stores, views, director, scene = await _scene(db, engine, "Old Tobin", max_replies=2)
    result = await director.run_round(await views.view(scene))
    assert [t.speaker for t in result.turns] == ["Marta Vell", "Sergeant Hale"]
    asked = engine.of_kind("speaker")
    assert asked and all("Old Tobin:" not in r.choices for r in asked)
    assert "Marta Vell:" in asked[0].choices and "Sergeant Hale:" in asked[0].choices
    assert "Old Tobin" not in {t.speaker for t in await stores.turns.window(scene.id, 10)}


async def test_a_forced_muted_npc_speaks(db: Database) -> None:
    engine = ScriptedEngine(texts=["Fine, I'll say it."], floors=["user"])
    _, views, director, scene = await _scene(db, engine, "Old Tobin")
    result = await director.run_round(await views.view(scene), forced="old tobin")
    assert [(t.speaker, t.content) for t in result.turns] == [("Old Tobin", "Fine, I'll say it.")]
    assert engine.of_kind("speaker") == []
    assert len(engine.of_kind("floor")) == 1  # others may still follow: the model is asked


async def test_when_every_npc_is_muted_an_unforced_round_says_nothing(db: Database) -> None:
    engine = ScriptedEngine()
    stores, views, director, scene = await _scene(
        db, engine, "Marta Vell", "Old Tobin", "Sergeant Hale"
    )
    before = await stores.turns.count(scene.id)
    view = await views.view(scene)
    built = []
    build = director.prompts.build

    async def counted(*args: Any, **kwargs: Any) -> PromptPlan:
        built.append(args)
        return await build(*args, **kwargs)

    director.prompts.build = counted  # type: ignore[method-assign]
    result = await director.run_round(view)
    assert (result.ended, result.turns, result.notice) == ("muted", [], None)
    assert engine.requests == [] and built == []  # not even a prompt: nobody may speak
    assert await stores.turns.count(scene.id) == before


async def test_after_a_forced_muted_npc_with_nobody_left_to_choose_the_floor_goes_back(
    db: Database,
) -> None:
    engine = ScriptedEngine(texts=["Only I may speak."], floors=["model", "model"])
    _, views, director, scene = await _scene(db, engine, "Marta Vell", "Old Tobin", "Sergeant Hale")
    result = await director.run_round(await views.view(scene), forced="Sergeant Hale")
    assert [t.speaker for t in result.turns] == ["Sergeant Hale"]
    assert result.ended == "players"
    assert engine.of_kind("floor") == [] and engine.of_kind("speaker") == []


async def test_a_lone_unmuted_npc_follows_a_forced_muted_one(db: Database) -> None:
    engine = ScriptedEngine(texts=["Ask Marta.", "I will answer."], floors=["model", "user"])
    _, views, director, scene = await _scene(db, engine, "Old Tobin", "Sergeant Hale")
    result = await director.run_round(await views.view(scene), forced="Old Tobin")
    assert [t.speaker for t in result.turns] == ["Old Tobin", "Marta Vell"]
    assert engine.of_kind("speaker") == []  # one NPC to choose from: no question asked
    assert result.ended == "players"


async def test_unmuting_makes_an_npc_choosable_again(db: Database) -> None:
    engine = ScriptedEngine(speakers=["Old Tobin:"], texts=["Back again."], floors=["user"])
    stores, views, director, scene = await _scene(db, engine, "Old Tobin")
    tobin = next(c for c in await stores.scenes.cast(scene.id) if c.name == "Old Tobin")
    assert await stores.scenes.set_muted(scene.id, tobin.id, False)
    assert await stores.scenes.set_muted(scene.id, tobin.id, False) is False  # no change
    result = await director.run_round(await views.view(scene))
    assert [t.speaker for t in result.turns] == ["Old Tobin"]
