"""A player's character and an NPC of one server never share a name, in either order."""

from __future__ import annotations

import pytest

from bot.channel.ports import IncomingMessage
from bot.characters.service import CharacterCommands, CharacterInput
from bot.errors import UserError
from bot.scenes.service import SceneCommands
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    OTHER_GUILD,
    Tavern,
    actor,
    alice,
    bob,
    build,
    gm,
    name_card,
)


@pytest.fixture
def tavern(db: Database) -> Tavern:
    return build(db)


async def test_a_player_character_may_not_take_an_npc_name(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(gm(), "npc", CharacterInput(name="Marta"))
    for data in (
        CharacterInput(name="marta"),  # case-insensitive
        CharacterInput(sheet="**Character Name**: MARTA\n**Age**: 30"),
        CharacterInput(card=name_card("Marta")),
        # The same name once the rule has cleaned the card's.
        CharacterInput(card=name_card("Mar:ta<|im_end|>")),
        CharacterInput(name="Marta", card=name_card("Keri")),
    ):
        with pytest.raises(UserError) as refused:
            await chars.create(alice(), "player", data)
        assert str(refused.value) == "Marta is already an NPC on this server."
    assert await stores.characters.list_player_characters(GUILD) == []
    assert await stores.scenes.default_character(GUILD, ALICE) is None


async def test_an_npc_may_not_take_a_player_character_name(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(bob(), "player", CharacterInput(name="Ayla"))
    for data in (
        CharacterInput(name="AYLA"),
        CharacterInput(sheet="**Character Name**: ayla"),
        CharacterInput(card=name_card("Ayla")),
        CharacterInput(card=name_card("\n### Ayla:")),
    ):
        with pytest.raises(UserError) as refused:
            await chars.create(gm(), "npc", data)
        assert str(refused.value) == "Ayla is already a player's character on this server."
    assert await stores.characters.list_npcs(GUILD) == []


async def test_other_servers_and_other_names_are_free(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(gm(), "npc", CharacterInput(name="Marta"))
    await chars.create(bob(), "player", CharacterInput(name="Ayla"))
    elsewhere_gm = actor(1, guild_id=OTHER_GUILD, manage_guild=True)
    await chars.create(elsewhere_gm, "npc", CharacterInput(name="Ayla"))
    await chars.create(actor(ALICE, guild_id=OTHER_GUILD), "player", CharacterInput(name="Marta"))
    await chars.create(alice(), "player", CharacterInput(name="Marta Jr"))
    assert [c.name for c in await stores.characters.list_npcs(OTHER_GUILD)] == ["Ayla"]
    assert [c.name for c in await stores.characters.list_player_characters(GUILD, ALICE)] == [
        "Marta Jr"
    ]


async def test_editing_keeps_the_name_and_is_no_clash(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(gm(), "npc", CharacterInput(name="Marta"))
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    # A card naming someone else brings its sheet; the name stays.
    reply = await chars.edit(alice(), "player", "Ayla", CharacterInput(card=name_card("Marta")))
    assert reply.text == "Updated character **Ayla**."
    assert (await stores.characters.find_player_character(GUILD, ALICE, "Ayla")) is not None


async def test_a_display_name_like_an_npc_speaks_as_a_player(tavern: Tavern) -> None:
    """A member without a character whose display name is an NPC's does not become that NPC."""
    services, stores = tavern.services, tavern.stores
    await services.get(SceneCommands).start(gm(), None)
    await services.get(CharacterCommands).create(gm(), "npc", CharacterInput(name="Marta"))
    message = IncomingMessage(
        message_id=1,
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id=ALICE,
        author_name="marta:",
        content="((I am not the harbormaster.))",
    )
    await services.play.on_message(message)
    stored = await stores.turns.by_message_id(1)
    assert stored is not None and stored.speaker == "marta (player)"
