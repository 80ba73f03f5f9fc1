"""Which books a scene reads: cast and player card books, attached server books, caps and cache."""

from __future__ import annotations

from typing import Any

from bot.director import TurnDirector
from bot.domain import Sampler
from bot.lore import LoreLimits
from bot.scenes.lore import SceneLoreSources
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.lore.helpers import book
from tests.scripted_engine import ScriptedEngine


def _card(name: str, *contents: str) -> dict[str, Any]:
    entries = [{"keys": ["fog"], "content": c, "extensions": {}, "enabled": True} for c in contents]
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {"name": name, "character_book": {"entries": entries}},
    }


async def test_card_books_of_cast_and_players_then_server_books(db: Database) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=3, format="chatml")
    marta = await stores.characters.create(
        guild_id=1, kind="npc", name="Marta", sheet="s", card_json=_card("Marta", "{{char}}'s fog.")
    )
    await stores.characters.create(  # not in the cast: its book stays out
        guild_id=1, kind="npc", name="Hale", sheet="s", card_json=_card("Hale", "Hale's fog.")
    )
    rook = await stores.characters.create(
        guild_id=1,
        kind="player",
        owner_id=9,
        name="Rook",
        sheet="s",
        card_json=_card("Rook", "{{char}} hates fog."),
    )
    await stores.scenes.add_cast(scene.id, marta.id)
    await stores.scenes.bind_player(scene.id, 9, rook.id)
    server = await stores.lore.save_book(1, book({"keys": ["fog"], "content": "{{char}} and fog."}))
    await stores.lore.attach(scene.id, server.id)
    await stores.turns.append(scene.id, role="user", speaker="Rook", content="Fog again.")
    views = SceneViews(stores, Sampler())
    view = await views.view(scene)
    assert [s.char for s in view.lore.sources] == ["Marta", "Rook", "Marta"]
    assert view.lore.user == "Rook"
    plan = await TurnDirector(ScriptedEngine(), stores.turns).build_prompt(view)
    assert [e.content for e in plan.lore.fired] == [
        "Marta's fog.",
        "Rook hates fog.",
        "Marta and fog.",
    ]


async def test_books_are_compiled_once_per_version_and_bad_ones_left_out(db: Database) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=3, format="chatml")
    marta = await stores.characters.create(
        guild_id=1, kind="npc", name="Marta", sheet="s", card_json=_card("Marta", "A.", "B.", "C.")
    )
    await stores.scenes.add_cast(scene.id, marta.id)
    small = await stores.lore.save_book(1, book({"keys": ["x"], "content": "X."}), name="small")
    await stores.lore.attach(scene.id, small.id)
    sources = SceneLoreSources(stores, limits=LoreLimits(max_entries=2))
    cast = await stores.scenes.cast(scene.id)
    first = await sources.scene_lore(scene, cast, [], "you")
    assert [s.book.name for s in first.sources] == ["small"]  # the card's 3 entries are too many
    again = await sources.scene_lore(scene, cast, [], "you")
    assert again.sources[0].book is first.sources[0].book
    await stores.lore.add_entry(small.id, book({"keys": ["y"], "content": "Y."}).entries[0])
    changed = await sources.scene_lore(scene, cast, [], "you")
    assert changed.sources[0].book is not first.sources[0].book
    assert len(changed.sources[0].book.entries) == 2
