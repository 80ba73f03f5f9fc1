"""CharacterCommands: /character and /npc without Discord."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.channel.text import MESSAGE_LIMIT
from bot.characters.cards import card_to_png
from bot.characters.service import CharacterCommands, CharacterInput
from bot.core import Core
from bot.engine.base import Sampler
from bot.errors import UserError
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from tests.channel.helpers import (
    ALICE,
    BOB,
    CHANNEL,
    GM_ID,
    GM_ROLE,
    GUILD,
    RecordingPoster,
    Tavern,
    actor,
    alice,
    bob,
    build,
    gm,
)

AYLA_SHEET = "**Character Name**: Ayla\n**Age**: 21\n**Race**: Elf\n**Personality**: Brave"


def v2_card(name: str = "Keri Wolf", **data: Any) -> dict[str, Any]:
    """A V2 card with fields the sheet does not map, which must survive an export."""
    fields: dict[str, Any] = {
        "name": name,
        "description": "A quiet swordswoman.",
        "personality": "Easy-going",
        "scenario": "The college gates at dusk.",
        "first_mes": "Keri looks up from her carving.",
        "mes_example": "<START>\nKeri: Hm.",
        "alternate_greetings": ["Hi."],
        "character_book": {"entries": [{"keys": ["Djarkel"], "content": "A city."}]},
        "creator": "someone",
        "tags": ["fantasy"],
        "extensions": {"talkativeness": "0.5", "depth_prompt": {"depth": 4}},
    }
    fields.update(data)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields}


def card_file(card: dict[str, Any], filename: str = "keri.json") -> tuple[str, bytes]:
    return filename, json.dumps(card).encode()


@pytest.fixture
def tavern(db: Database) -> Tavern:
    return build(db)


# -- create ---------------------------------------------------------------------------------------


async def test_create_from_a_sheet_stores_it_and_makes_it_the_default(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    reply = await chars.create(alice(), "player", CharacterInput(sheet=AYLA_SHEET))
    assert reply.text == "Created character **Ayla**."
    stored = await stores.characters.find_player_character(GUILD, ALICE, "Ayla")
    assert stored is not None
    assert stored.kind == "player" and stored.owner_id == ALICE
    assert stored.sheet == AYLA_SHEET and stored.card_json is None and stored.greeting is None
    default = await stores.scenes.default_character(GUILD, ALICE)
    assert default is not None and default.id == stored.id


async def test_only_the_first_character_becomes_the_default(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    await chars.create(alice(), "player", CharacterInput(name="Brann"))
    default = await stores.scenes.default_character(GUILD, ALICE)
    assert default is not None and default.name == "Ayla"


async def test_a_name_wins_over_the_sheet_and_prose_becomes_the_biography(
    tavern: Tavern,
) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(
        alice(), "player", CharacterInput(name="Lute", sheet="A wandering bard who sings.")
    )
    lute = await stores.characters.find_player_character(GUILD, ALICE, "lute")
    assert lute is not None
    assert lute.sheet == "**Character Name**: Lute\n**Biography**:\nA wandering bard who sings."


async def test_create_from_a_name_only(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    reply = await chars.create(alice(), "player", CharacterInput(name="  Bo  "))
    assert reply.text == "Created character **Bo**."
    bo = await stores.characters.find_player_character(GUILD, ALICE, "bo")
    assert bo is not None and bo.name == "Bo" and bo.sheet == "**Character Name**: Bo"


async def test_create_with_nothing_or_a_bad_name_is_a_user_error(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    with pytest.raises(UserError, match="Give a name, a sheet or a card"):
        await chars.create(alice(), "player", CharacterInput())
    with pytest.raises(UserError, match="cannot contain ':'"):
        await chars.create(alice(), "player", CharacterInput(name="Ay:la"))
    assert await stores.characters.list_player_characters(GUILD, ALICE) == []
    assert await stores.scenes.default_character(GUILD, ALICE) is None


async def test_create_an_npc_from_a_v2_json_card(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    card = v2_card()
    reply = await chars.create(gm(), "npc", CharacterInput(card=card_file(card)))
    assert reply.text == "Created NPC **Keri Wolf** (from its card)."
    npc = await stores.characters.find_npc(GUILD, "keri wolf")
    assert npc is not None
    assert npc.kind == "npc" and npc.owner_id is None
    assert npc.greeting == "Keri looks up from her carving."
    assert npc.card_json == card
    assert "**Character Name**: Keri Wolf" in npc.sheet
    assert "A quiet swordswoman." in npc.sheet and "Easy-going" in npc.sheet
    assert npc.avatar_url is None  # a JSON card is no picture
    # An NPC is nobody's character: the GM gets no default from it.
    assert await stores.scenes.default_character(GUILD, GM_ID) is None
    assert await stores.characters.list_player_characters(GUILD) == []


async def test_a_player_character_from_a_card_and_a_name_override(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(
        alice(), "player", CharacterInput(name="Keri", card=card_file(v2_card("Keri Wolf")))
    )
    keri = await stores.characters.find_player_character(GUILD, ALICE, "Keri")
    assert keri is not None and keri.kind == "player" and keri.owner_id == ALICE
    assert keri.card_json is not None and keri.sheet.startswith("**Character Name**: Keri\n")
    assert await stores.characters.find_npc(GUILD, "Keri") is None
    default = await stores.scenes.default_character(GUILD, ALICE)
    assert default is not None and default.id == keri.id


async def test_a_png_card_is_its_own_avatar_unless_one_is_given(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    png = card_to_png(v2_card("Satori"))
    await chars.create(
        gm(),
        "npc",
        CharacterInput(card=("satori.PNG", png), card_url="https://cdn.example/satori.png"),
    )
    await chars.create(
        gm(),
        "npc",
        CharacterInput(
            card=("tobin.png", card_to_png(v2_card("Tobin"))),
            card_url="https://cdn.example/tobin.png",
            avatar_url="https://cdn.example/face.png",
        ),
    )
    satori = await stores.characters.find_npc(GUILD, "Satori")
    tobin = await stores.characters.find_npc(GUILD, "Tobin")
    assert satori is not None and satori.avatar_url == "https://cdn.example/satori.png"
    assert tobin is not None and tobin.avatar_url == "https://cdn.example/face.png"


async def test_a_broken_card_is_a_user_error(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    with pytest.raises(UserError, match="not valid JSON"):
        await chars.create(gm(), "npc", CharacterInput(card=("bad.json", b"{nope")))
    with pytest.raises(UserError, match="no character name"):
        await chars.create(gm(), "npc", CharacterInput(card=card_file(v2_card(""))))
    assert await stores.characters.list_npcs(GUILD) == []


async def test_duplicate_names_give_a_clear_error(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    with pytest.raises(UserError, match="You already have a character called AYLA"):
        await chars.create(alice(), "player", CharacterInput(name="AYLA"))
    await chars.create(gm(), "npc", CharacterInput(name="Marta"))
    with pytest.raises(UserError, match="There is already an NPC called marta on this server"):
        await chars.create(gm(), "npc", CharacterInput(name="marta"))
    # Player names are per owner: Bob may use the same one (NPCs may not: see the clash tests).
    await chars.create(bob(), "player", CharacterInput(name="Ayla"))
    assert [c.name for c in await stores.characters.list_player_characters(GUILD, ALICE)] == [
        "Ayla"
    ]
    assert [c.name for c in await stores.characters.list_npcs(GUILD)] == ["Marta"]


# -- who may change what --------------------------------------------------------------------------


async def test_a_player_cannot_manage_npcs(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(gm(), "npc", CharacterInput(name="Marta", sheet="A baker."))
    before = await stores.characters.find_npc(GUILD, "Marta")
    assert before is not None
    attempts = [
        chars.create(alice(), "npc", CharacterInput(name="Tobin")),
        chars.edit(alice(), "npc", "Marta", CharacterInput(sheet="A thief.")),
        chars.delete(alice(), "npc", "Marta"),
        chars.list(alice(), "npc"),
        chars.show(alice(), "npc", "Marta"),
        chars.sheet_of(alice(), "npc", "Marta"),
        chars.export(alice(), "Marta"),
    ]
    for attempt in attempts:
        with pytest.raises(UserError, match="Only a GM"):
            await attempt
    after = await stores.characters.find_npc(GUILD, "Marta")
    assert after is not None and after.sheet == before.sheet
    assert await stores.characters.find_npc(GUILD, "Tobin") is None


async def test_the_gm_role_may_manage_npcs(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await stores.scenes.set_gm_role(GUILD, GM_ROLE)
    role_gm = actor(ALICE, roles=[GM_ROLE])
    await chars.create(role_gm, "npc", CharacterInput(name="Marta"))
    await chars.edit(role_gm, "npc", "marta", CharacterInput(sheet="A baker."))
    marta = await stores.characters.find_npc(GUILD, "Marta")
    assert marta is not None and "A baker." in marta.sheet
    await chars.delete(role_gm, "npc", "Marta")
    assert await stores.characters.find_npc(GUILD, "Marta") is None


async def test_players_edit_only_their_own_character(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(sheet=AYLA_SHEET))
    await chars.create(bob(), "player", CharacterInput(name="Ayla", sheet="Bob's elf."))
    bobs_before = await stores.characters.find_player_character(GUILD, BOB, "Ayla")
    assert bobs_before is not None

    reply = await chars.edit(
        alice(),
        "player",
        "ayla",
        CharacterInput(name="Renamed", sheet="A tired ranger.", avatar_url="https://a/x.png"),
    )
    assert reply.text == "Updated character **Ayla**."
    alices = await stores.characters.find_player_character(GUILD, ALICE, "Ayla")
    assert alices is not None  # editing keeps the name
    assert alices.sheet == "**Character Name**: Ayla\n**Biography**:\nA tired ranger."
    assert alices.avatar_url == "https://a/x.png"
    bobs = await stores.characters.find_player_character(GUILD, BOB, "Ayla")
    assert bobs is not None
    assert (bobs.sheet, bobs.avatar_url) == (bobs_before.sheet, bobs_before.avatar_url)

    # Bob has no "Brann": Alice's is out of his reach.
    await chars.create(alice(), "player", CharacterInput(name="Brann"))
    with pytest.raises(UserError, match="No character named 'Brann'"):
        await chars.edit(bob(), "player", "Brann", CharacterInput(sheet="Stolen."))
    brann = await stores.characters.find_player_character(GUILD, ALICE, "Brann")
    assert brann is not None and brann.sheet == "**Character Name**: Brann"


async def test_editing_with_nothing_to_change_is_refused(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    with pytest.raises(UserError, match="Nothing to change"):
        await chars.edit(alice(), "player", "Ayla", CharacterInput(name="Other"))


async def test_editing_an_npc_with_a_card_replaces_card_and_greeting(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(gm(), "npc", CharacterInput(name="Marta", sheet="A baker."))
    card = v2_card("Somebody Else", first_mes="Marta wipes her hands.")
    await chars.edit(gm(), "npc", "Marta", CharacterInput(card=card_file(card)))
    marta = await stores.characters.find_npc(GUILD, "Marta")
    assert marta is not None
    assert marta.name == "Marta" and marta.sheet.startswith("**Character Name**: Marta\n")
    assert marta.greeting == "Marta wipes her hands." and marta.card_json == card
    assert await stores.characters.find_npc(GUILD, "Somebody Else") is None


async def test_players_delete_only_their_own_character(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    await chars.create(bob(), "player", CharacterInput(name="Ayla"))
    await chars.create(alice(), "player", CharacterInput(name="Brann"))
    with pytest.raises(UserError, match="No character named 'Brann'"):
        await chars.delete(bob(), "player", "Brann")

    reply = await chars.delete(alice(), "player", "AYLA")
    assert reply.text == "Deleted character **Ayla**."
    assert await stores.characters.find_player_character(GUILD, ALICE, "Ayla") is None
    assert await stores.characters.find_player_character(GUILD, BOB, "Ayla") is not None
    assert await stores.characters.find_player_character(GUILD, ALICE, "Brann") is not None
    with pytest.raises(UserError, match="No character named 'Ayla'"):
        await chars.delete(alice(), "player", "Ayla")


# -- list, show, export ---------------------------------------------------------------------------


async def test_list_players_and_npcs(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    assert (await chars.list(alice(), "player")).text == "No characters yet."
    assert (await chars.list(gm(), "npc")).text == "No NPCs yet."
    await chars.create(alice(), "player", CharacterInput(name="Zed"))
    await chars.create(alice(), "player", CharacterInput(name="ayla"))
    await chars.create(bob(), "player", CharacterInput(name="Brann"))
    await chars.create(gm(), "npc", CharacterInput(name="Marta"))
    mine = await chars.list(alice(), "player")
    assert mine.text == "- **ayla**\n- **Zed**" and mine.ephemeral
    assert (await chars.list(alice(), "player", member_id=BOB)).text == "- **Brann**"
    assert (await chars.list(gm(), "npc")).text == "- **Marta**"


async def test_show_a_sheet_with_its_greeting(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    await chars.create(gm(), "npc", CharacterInput(card=card_file(v2_card())))
    shown = await chars.show(gm(), "npc", "keri wolf")
    assert shown.file is None
    assert shown.text.startswith("**Character Name**: Keri Wolf")
    assert shown.text.endswith("\n\n**Greeting**: Keri looks up from her carving.")
    assert await chars.sheet_of(gm(), "npc", "Keri Wolf") == shown.text.split("\n\n**Gr")[0]


async def test_show_another_members_character(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    await chars.create(bob(), "player", CharacterInput(sheet="**Character Name**: Brann"))
    shown = await chars.show(alice(), "player", "Brann", member_id=BOB)
    assert shown.text == "**Character Name**: Brann"
    with pytest.raises(UserError, match="'Brann'"):
        await chars.show(alice(), "player", "Brann")  # Alice has none of that name


async def test_a_long_sheet_comes_back_as_a_file(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    biography = " ".join(f"Sentence number {i} of a long life." for i in range(150))
    assert MESSAGE_LIMIT < len(biography) < 8000
    await chars.create(alice(), "player", CharacterInput(name="Old Tobin!", sheet=biography))
    stored = await stores.characters.find_player_character(GUILD, ALICE, "Old Tobin!")
    assert stored is not None
    shown = await chars.show(alice(), "player", "old tobin!")
    assert shown.text == "**Old Tobin!**'s sheet:"
    assert shown.file is not None
    filename, data = shown.file
    assert filename == "old-tobin.md"
    assert data.decode() == stored.sheet and biography in data.decode()


async def test_export_an_npc_as_a_v2_card_keeping_the_cards_fields(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    card = v2_card()
    await chars.create(gm(), "npc", CharacterInput(card=card_file(card)))
    await chars.edit(gm(), "npc", "Keri Wolf", CharacterInput(sheet="A retired swordswoman."))
    reply = await chars.export(gm(), "keri wolf")
    assert reply.text == "**Keri Wolf** as a V2 card."
    assert reply.file is not None
    filename, data = reply.file
    assert filename == "keri-wolf.json"
    exported = json.loads(data)
    assert exported["spec"] == "chara_card_v2" and exported["spec_version"] == "2.0"
    fields = exported["data"]
    assert fields["name"] == "Keri Wolf"
    assert "A retired swordswoman." in fields["description"]  # the edited sheet
    assert fields["first_mes"] == "Keri looks up from her carving."
    assert fields["scenario"] == "The college gates at dusk."
    for kept in (
        "mes_example",
        "alternate_greetings",
        "character_book",
        "creator",
        "tags",
        "extensions",
    ):
        assert fields[kept] == card["data"][kept], kept


async def test_export_of_an_npc_made_from_a_sheet_is_a_complete_card(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    await chars.create(gm(), "npc", CharacterInput(name="Marta", sheet="A baker."))
    reply = await chars.export(gm(), "Marta")
    assert reply.file is not None
    exported = json.loads(reply.file[1])
    assert exported["spec"] == "chara_card_v2"
    assert exported["data"]["name"] == "Marta" and "A baker." in exported["data"]["description"]
    assert exported["data"]["first_mes"] == "" and exported["data"]["alternate_greetings"] == []
    with pytest.raises(UserError, match="No NPC named 'Tobin'"):
        await chars.export(gm(), "Tobin")


# -- use, names -----------------------------------------------------------------------------------


async def test_use_binds_in_the_scene_and_sets_the_default(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    await chars.create(alice(), "player", CharacterInput(name="Brann"))
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")

    reply = await chars.use(alice(), "brann")
    assert reply.text == "You now play **Brann** in this scene."
    bound = await stores.scenes.bound_character(scene.id, ALICE)
    default = await stores.scenes.default_character(GUILD, ALICE)
    assert bound is not None and bound.name == "Brann"
    assert default is not None and default.name == "Brann"
    assert await stores.scenes.bound_character(scene.id, BOB) is None


async def test_use_without_a_scene_only_sets_the_default(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    await chars.create(alice(), "player", CharacterInput(name="Brann"))
    reply = await chars.use(alice(), "Brann")
    assert reply.text == "**Brann** is now your default character."
    default = await stores.scenes.default_character(GUILD, ALICE)
    assert default is not None and default.name == "Brann"
    assert await stores.scenes.by_channel(CHANNEL, active_only=False) is None


async def test_nobody_can_use_another_players_character(tavern: Tavern) -> None:
    chars, stores = tavern.services.get(CharacterCommands), tavern.stores
    await chars.create(alice(), "player", CharacterInput(name="Ayla"))
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    with pytest.raises(UserError, match="No character named 'Ayla'"):
        await chars.use(bob(), "Ayla")
    assert await stores.scenes.bound_character(scene.id, BOB) is None
    assert await stores.scenes.default_character(GUILD, BOB) is None


async def test_names_for_autocomplete(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    for name in ("Marta", "Mara", "Tobin", "Amara"):
        await chars.create(gm(), "npc", CharacterInput(name=name))
    await chars.create(alice(), "player", CharacterInput(name="Mallory"))
    await chars.create(bob(), "player", CharacterInput(name="Maggie"))

    assert await chars.names(gm(), "npc", "ma") == ["Mara", "Marta", "Amara"]
    assert await chars.names(gm(), "npc", "") == ["Amara", "Mara", "Marta", "Tobin"]
    assert await chars.names(alice(), "player", "ma") == ["Mallory"]
    assert await chars.names(alice(), "player", "ma", member_id=BOB) == ["Maggie"]
    assert await chars.names(alice(), "player", "zz") == []


async def test_a_missing_character_of_another_member_is_reported_readably(
    tavern: Tavern,
) -> None:
    with pytest.raises(UserError) as refused:
        await tavern.services.get(CharacterCommands).show(alice(), "player", "Brann", member_id=BOB)
    assert "'Brann'" in str(refused.value)
    assert "No their" not in str(refused.value)


async def test_the_caps_come_from_the_settings(db: Database) -> None:
    settings = load_settings(max_characters_per_player=2, greeting_max_chars=10)
    stores = Stores.over(db)
    views = SceneViews(stores, Sampler(seed=1))  # features plug into the views when built
    parts = (None, None)  # engine, director: not used by character commands
    services = Core(settings, db, stores, *parts, views).services(RecordingPoster())  # type: ignore[arg-type]
    characters = services.get(CharacterCommands)
    assert characters.roster_limits.characters_per_player == 2
    assert characters.card_limits.greeting_max_chars == 10
    for name in ("One", "Two"):
        await characters.create(alice(), "player", CharacterInput(name=name))
    with pytest.raises(UserError, match="2"):
        await characters.create(alice(), "player", CharacterInput(name="Three"))
