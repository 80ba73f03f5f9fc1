"""Greetings as swipes: an NPC joins with its card's greetings, and Swipe cycles them."""

from __future__ import annotations

import json
from pathlib import Path

from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import load_scene_file
from bot.scenes.service import SceneCommands
from bot.store import Database, Stores
from tests.channel.helpers import GUILD, Tavern, alice, build, gm

CARD = {
    "spec": "chara_card_v2",
    "data": {
        "name": "Wren",
        "first_mes": "*Wren waves at {{user}}.* I'm {{char}}.",
        "alternate_greetings": ["Oh, it's {{user}}.", "Storm's coming."],
    },
}


async def _wren_joins(tavern: Tavern) -> int:
    services, stores = tavern.services, tavern.stores
    await services.get(SceneCommands).start(gm(), "group-inst")
    ayla = await stores.characters.create(
        guild_id=GUILD, kind="player", name="Ayla", sheet="s", owner_id=alice().user_id
    )
    scene = await stores.scenes.by_channel(alice().channel_id)
    assert scene is not None
    await stores.scenes.bind_player(scene.id, alice().user_id, ayla.id)
    await stores.characters.create(
        guild_id=GUILD,
        kind="npc",
        name="Wren",
        sheet="s",
        greeting=str(CARD["data"]["first_mes"]),  # type: ignore[index]
        card_json=CARD,
    )
    await services.get(SceneCommands).add_npc(gm(), "Wren")
    return scene.id


async def test_a_greeting_is_posted_with_its_alternatives_and_swipe_cycles_them(
    db: Database,
) -> None:
    tavern = build(db)
    scene_id = await _wren_joins(tavern)
    (greeting,) = await tavern.stores.turns.window(scene_id, 10)
    expected = ["*Wren waves at Ayla.* I'm Wren.", "Oh, it's Ayla.", "Storm's coming."]
    assert (greeting.greeting, greeting.swipes, greeting.content) == (True, expected, expected[0])
    assert tavern.poster.posts[-1][3] == expected[0]

    shown = []
    for _ in range(3):
        reply = await tavern.services.turns.swipe(alice(), greeting.id)
        shown.append((reply.text, (await tavern.stores.turns.get(greeting.id)).content))
    assert shown == [
        ("Wren's greeting 2 of 3.", expected[1]),
        ("Wren's greeting 3 of 3.", expected[2]),
        ("Wren's greeting 1 of 3.", expected[0]),
    ]
    assert [edit[3] for edit in tavern.poster.edits] == [expected[1], expected[2], expected[0]]
    assert tavern.engine.requests == []  # cycling greetings never asks the model


async def test_a_scene_file_opens_with_the_same_greeting_as_scene_add(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "wren.json").write_text(json.dumps(CARD))
    (tmp_path / "scene.toml").write_text(
        'format = "group-inst"\n'
        '[[npcs]]\ncard = "wren.json"\n'
        '[[players]]\nname = "Ayla"\nsheet = "s"\n'
    )
    stores = Stores.over(db)
    scene, _ = await import_scene_file(
        stores, load_scene_file(tmp_path / "scene.toml"), "group-inst"
    )
    (greeting,) = await stores.turns.window(scene.id, 10)
    expected = ["*Wren waves at Ayla.* I'm Wren.", "Oh, it's Ayla.", "Storm's coming."]
    assert (greeting.greeting, greeting.swipes, greeting.pending) == (True, expected, False)
