"""Lore layouts and views: speakers who read the same turns share one layout (one prefix)."""

from __future__ import annotations

import pytest

from bot.director import TurnDirector
from bot.domain import Sampler
from bot.engine.llama import LlamaEngine
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.lore.helpers import book
from tests.prompts.test_injection import vocab as vocab  # the demo model's tokenizer

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

LORE = book({"keys": ["lantern"], "content": "LANTERN-LORE: it never goes out."}, name="Town")


async def test_speakers_who_saw_the_same_share_a_layout_and_a_late_one_does_not(
    db: Database, vocab: LlamaEngine
) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=3, format="chatml")
    ids = {}
    for name in ("Marta", "Tobin", "Ivo"):
        npc = await stores.characters.create(guild_id=1, kind="npc", name=name, sheet=name)
        ids[name] = npc.id
    for name in ("Marta", "Tobin"):
        await stores.scenes.add_cast(scene.id, ids[name])
    stored = await stores.lore.save_book(1, LORE)
    await stores.lore.attach(scene.id, stored.id)
    await stores.turns.append(scene.id, role="user", speaker="Rook", content="The lantern?")
    await stores.scenes.add_cast(scene.id, ids["Ivo"])
    await stores.turns.append(scene.id, role="user", speaker="Rook", content="Hello, Ivo.")
    view = await SceneViews(stores, Sampler(seed=1)).view(await stores.scenes.get(scene.id))
    director = TurnDirector(vocab, stores.turns)
    marta = await director.build_prompt(view, "Marta")
    tobin = await director.build_prompt(view, "Tobin")
    ivo = await director.build_prompt(view, "Ivo")
    layouts = director.prompts.lore_layouts
    # Marta and Tobin saw everything: they go on from the scene's one layout, so the lore
    # Marta's prompt placed is where Tobin's prompt finds it.
    assert layouts.get((scene.id, None)) is not None
    assert layouts.get((scene.id, ids["Marta"])) is None
    assert layouts.get((scene.id, ids["Tobin"])) is None
    assert "LANTERN-LORE" in marta.rendered.text and "LANTERN-LORE" in tobin.rendered.text
    # Ivo missed the question: its own layout, and no lore fired by a turn it never read.
    assert layouts.get((scene.id, ids["Ivo"])) is not None
    assert "LANTERN-LORE" not in ivo.rendered.text
