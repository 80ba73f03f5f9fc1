"""Roster caps and card import through CharacterCommands, on a real SQLite database."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import bot.characters.cards as cards_module
import bot.characters.drafts as drafts_module
from bot.channel.access import Access
from bot.channel.ports import Actor
from bot.characters.limits import CardLimits, RosterLimits
from bot.characters.service import CharacterCommands, CharacterInput
from bot.errors import UserError
from bot.store import CharacterStore, Database, SceneStore, TurnStore

GUILD = 10
PLAYER = Actor(user_id=1, guild_id=GUILD, channel_id=100, display_name="Ann")
OTHER = Actor(user_id=2, guild_id=GUILD, channel_id=100, display_name="Bo")
GM = Actor(user_id=3, guild_id=GUILD, channel_id=100, display_name="Gem", manage_guild=True)


def commands(db: Database, **limits: Any) -> CharacterCommands:
    """The command service over real stores."""
    scenes = SceneStore(db)
    access = Access(scenes, TurnStore(db), cooldown_seconds=0.0)
    return CharacterCommands(CharacterStore(db), scenes, access, **limits)


def card_file(**data: Any) -> tuple[str, bytes]:
    """A JSON V2 card attachment."""
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Keri", **data}}
    return "keri.json", json.dumps(card).encode("utf-8")


async def test_the_26th_character_of_a_player_is_refused(db: Database) -> None:
    service = commands(db)
    for number in range(25):
        await service.create(PLAYER, "player", CharacterInput(name=f"Hero {number}"))
    with pytest.raises(UserError) as caught:
        await service.create(PLAYER, "player", CharacterInput(name="Hero 25"))
    assert str(caught.value) == (
        "You have 25 characters on this server (the limit is 25); delete one first."
    )
    # The cap is per player: someone else still has room, and deleting frees a place.
    await service.create(OTHER, "player", CharacterInput(name="Hero 25"))
    await service.delete(PLAYER, "player", "Hero 0")
    await service.create(PLAYER, "player", CharacterInput(name="Hero 25"))


async def test_npcs_beyond_the_server_cap_are_refused(db: Database) -> None:
    service = commands(db, roster_limits=RosterLimits(npcs_per_server=3))
    for number in range(3):
        await service.create(GM, "npc", CharacterInput(name=f"Guard {number}"))
    with pytest.raises(
        UserError, match=r"^This server has 3 NPCs \(the limit is 3\); delete one first\.$"
    ):
        await service.create(GM, "npc", CharacterInput(card=card_file()))
    # Player characters are counted apart from NPCs, and another server has its own cap.
    await service.create(PLAYER, "player", CharacterInput(name="Guard 3"))
    elsewhere = Actor(
        user_id=3, guild_id=GUILD + 1, channel_id=200, display_name="Gem", manage_guild=True
    )
    await service.create(elsewhere, "npc", CharacterInput(name="Guard 3"))


async def test_hostile_card_is_refused_before_anything_is_stored(db: Database) -> None:
    service = commands(db, card_limits=CardLimits(greeting_max_chars=10))
    hostile = CharacterInput(card=card_file(first_mes="Hello there, traveller."))
    with pytest.raises(UserError, match="greeting is too long"):
        await service.create(GM, "npc", hostile)
    assert await CharacterStore(db).count(GUILD, "npc") == 0
    await service.create(GM, "npc", CharacterInput(name="Keri"))
    with pytest.raises(UserError, match="greeting is too long"):
        await service.edit(GM, "npc", "Keri", hostile)


async def test_cards_are_parsed_in_a_worker_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = cards_module.load_card

    def spy(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(drafts_module, "load_card", spy)
    reply = await commands(db).create(PLAYER, "player", CharacterInput(card=card_file()))
    assert reply.text == "Created character **Keri** (from its card)."
    assert len(threads) == 1 and threads[0] != threading.get_ident()


async def test_store_counts_per_kind_and_owner(db: Database) -> None:
    store = CharacterStore(db)
    await store.create(guild_id=GUILD, kind="player", name="A", sheet="s", owner_id=1)
    await store.create(guild_id=GUILD, kind="player", name="B", sheet="s", owner_id=1)
    await store.create(guild_id=GUILD, kind="player", name="A", sheet="s", owner_id=2)
    await store.create(guild_id=GUILD, kind="npc", name="A", sheet="s")
    assert await store.count(GUILD, "player", 1) == 2
    assert await store.count(GUILD, "player", 2) == 1
    assert await store.count(GUILD, "npc") == 1
    assert await store.count(GUILD + 1, "npc") == 0
