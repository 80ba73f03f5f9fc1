"""Consecutive prompts with lore share their start: lore that starts firing joins at the end."""

from __future__ import annotations

import pytest

from bot.director import PromptPlan, TurnDirector
from bot.domain import FORMAT_NAMES, Sampler
from bot.scenes.views import SceneViews
from bot.store import Database, Scene, Stores
from tests.lore.helpers import book
from tests.scripted_engine import ScriptedEngine

HARBOR = book(
    {"keys": ["fog"], "content": "Fog hides the Teeth.", "position": "before_char"},
    {"keys": ["ledger"], "content": "The ledger is short by a crate.", "position": "after_char"},
    {"keys": ["lamp"], "content": "Tall " * 60, "position": "after_char"},
    name="Harbor",
)


async def _scene(db: Database, fmt: str) -> tuple[Stores, Scene]:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=10, format=fmt)
    marta = await stores.characters.create(guild_id=1, kind="npc", name="Marta", sheet="Harbor.")
    await stores.scenes.add_cast(scene.id, marta.id)
    stored = await stores.lore.save_book(1, HARBOR)
    await stores.lore.attach(scene.id, stored.id)
    return stores, scene


async def _say(stores: Stores, scene: Scene, *lines: str) -> None:
    for i, line in enumerate(lines):
        role, speaker = ("model", "Marta") if i % 2 else ("user", "Rook")
        await stores.turns.append(scene.id, role=role, speaker=speaker, content=line)


async def _build(stores: Stores, scene: Scene, director: TurnDirector) -> PromptPlan:
    view = await SceneViews(stores, Sampler(seed=1, max_tokens=50)).view(scene)
    return await director.build_prompt(view, "Marta")


def _before_header(plan: PromptPlan) -> str:
    """The prompt without its generation header: what the model's context still holds."""
    rendered = plan.rendered
    return rendered.text[: -len(rendered.separator + rendered.header.text)]


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
async def test_lore_that_starts_firing_keeps_the_prompt_start(db: Database, fmt: str) -> None:
    stores, scene = await _scene(db, fmt)
    director = TurnDirector(ScriptedEngine(), stores.turns)
    await _say(stores, scene, "The fog is thick tonight.", "Stay close to the wall.")
    first = await _build(stores, scene, director)
    await _say(stores, scene, "Did you check the ledger?")
    second = await _build(stores, scene, director)

    assert second.rendered.text.startswith(_before_header(first))
    ledger = "The ledger is short by a crate."
    assert second.rendered.text.index(ledger) > second.rendered.text.index("check the ledger?")
    report = {e.content: e.why.describe() for e in second.lore.fired}
    assert report[ledger].startswith('key "ledger"; placed after the turn')

    # After a restart nothing is remembered: the spec's placement, in the system block.
    restarted = await _build(stores, scene, TurnDirector(ScriptedEngine(), stores.turns))
    assert restarted.rendered.text.index(ledger) < restarted.rendered.text.index("The fog is")


async def test_the_window_does_not_move_when_lore_starts_firing(db: Database) -> None:
    stores, scene = await _scene(db, "chatml")
    for i in range(40):
        await _say(stores, scene, f"Turn {i}: the harbor is quiet and cold tonight.", "Hm.")
    director = TurnDirector(ScriptedEngine(n_ctx=700), stores.turns, trim_step=1)
    quiet = await _build(stores, scene, director)
    assert quiet.budget.trimmed and not quiet.lore.fired
    await _say(stores, scene, "Is that lamp lit?")  # ~60 tokens of lore fire
    lit = await _build(stores, scene, director)
    assert any(e.content.startswith("Tall") for e in lit.lore.fired)
    assert lit.history[0].seq == quiet.history[0].seq
    (tokens,) = await ScriptedEngine().count_many([lit.rendered.prompt])
    assert tokens <= 700 - 50


async def test_when_the_window_moves_lore_goes_back_to_the_system_block(db: Database) -> None:
    stores, scene = await _scene(db, "chatml")
    for i in range(10):
        await _say(stores, scene, f"Turn {i}: the harbor is quiet and cold tonight.", "Hm.")
    director = TurnDirector(ScriptedEngine(n_ctx=1000), stores.turns, trim_step=4)
    start = (await _build(stores, scene, director)).history[0].seq
    await _say(stores, scene, "The ledger, Marta.")
    plan = await _build(stores, scene, director)
    ledger = "The ledger is short by a crate."
    assert plan.history[0].seq == start and not plan.budget.trimmed
    assert plan.rendered.text.index(ledger) > plan.rendered.text.index("Turn 9")
    while plan.history[0].seq == start:
        await _say(stores, scene, "The ledger again, and the wind.", "Hm.")
        plan = await _build(stores, scene, director)
    first_turn = plan.rendered.text.index(plan.history[0].content)
    assert plan.rendered.text.index(ledger) < first_turn
    assert {e.why.kind for e in plan.lore.fired} == {"key"}
