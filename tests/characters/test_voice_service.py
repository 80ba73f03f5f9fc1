"""`/npc settings` and card voices through the services, on the real store (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.characters.service import CharacterCommands, CharacterInput
from bot.characters.voice import voice_from_json
from bot.characters.voices import VoiceChange, VoiceCommands
from bot.domain import Sampler, Voice
from bot.errors import UserError
from bot.scenes.views import SceneViews
from bot.store import Database
from tests.channel.helpers import CHANNEL, GUILD, Tavern, alice, build, gm

BACKENDS = {"narrator": {"backend": "llama-server", "url": "http://127.0.0.1:9"}}


@pytest.fixture
def tavern(db: Database) -> Tavern:
    return build(db, backends=BACKENDS)


async def _npc(tavern: Tavern, name: str = "Marta", **card: Any) -> None:
    chars = tavern.services.get(CharacterCommands)
    if card:
        data = {"name": name, "description": "A baker.", "extensions": card}
        raw = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data})
        await chars.create(gm(), "npc", CharacterInput(card=("m.json", raw.encode())))
    else:
        await chars.create(gm(), "npc", CharacterInput(name=name, sheet="A baker."))


async def _stored(tavern: Tavern, name: str = "Marta") -> Voice:
    npc = await tavern.stores.characters.find_npc(GUILD, name)
    assert npc is not None
    return voice_from_json(npc.voice)


async def test_a_gm_sets_shows_and_resets_an_npcs_voice(tavern: Tavern) -> None:
    voices = tavern.services.get(VoiceCommands)
    await _npc(tavern)
    shown = await voices.settings(gm(), "marta", VoiceChange())
    assert shown.text.startswith("**Marta**'s voice: the scene's settings.")
    assert "backend: narrator" in shown.text and shown.ephemeral

    change = VoiceChange(temperature=1.2, max_tokens=120, length="short", talkativeness=20)
    reply = await voices.settings(gm(), "Marta", change)
    assert reply.text == (
        "**Marta**'s voice is now: temperature 1.2, max_tokens 120, length short, talkativeness 20."
    )
    assert await _stored(tavern) == Voice(1.2, None, 120, "short", 20, None)

    await voices.settings(gm(), "Marta", VoiceChange(min_p=0.02, backend="narrator"))
    assert await _stored(tavern) == Voice(1.2, 0.02, 120, "short", 20, "narrator")
    # No router in this build: the backend is shown as set, with nothing to add.
    shown = await voices.settings(gm(), "Marta", VoiceChange())
    assert "backend narrator." in shown.text.splitlines()[0]

    await voices.settings(gm(), "Marta", VoiceChange(reset="temperature", backend="default"))
    assert await _stored(tavern) == Voice(None, 0.02, 120, "short", 20, None)
    # Reset first, then what is given: a fresh voice of one field.
    await voices.settings(gm(), "Marta", VoiceChange(reset="all", talkativeness=0))
    assert await _stored(tavern) == Voice(talkativeness=0)
    await voices.settings(gm(), "Marta", VoiceChange(reset="all"))
    npc = await tavern.stores.characters.find_npc(GUILD, "Marta")
    assert npc is not None and npc.voice is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (VoiceChange(temperature=2.1), "temperature"),
        (VoiceChange(min_p=-0.5), "min_p"),
        (VoiceChange(max_tokens=2049), "max_tokens"),
        (VoiceChange(length="epic"), "length"),
        (VoiceChange(talkativeness=150), "talkativeness"),
        (VoiceChange(backend="elsewhere"), "backend"),
        (VoiceChange(reset="everything"), "reset"),
    ],
)
async def test_bad_values_are_refused_in_one_line_naming_the_field(
    tavern: Tavern, change: VoiceChange, field: str
) -> None:
    voices = tavern.services.get(VoiceCommands)
    await _npc(tavern)
    await voices.settings(gm(), "Marta", VoiceChange(talkativeness=40))
    with pytest.raises(UserError) as refused:
        await voices.settings(gm(), "Marta", change)
    assert str(refused.value).startswith(field) and "\n" not in str(refused.value)
    assert await _stored(tavern) == Voice(talkativeness=40)  # nothing changed


async def test_only_gms_and_only_known_npcs(tavern: Tavern) -> None:
    voices = tavern.services.get(VoiceCommands)
    await _npc(tavern)
    with pytest.raises(UserError, match="Only a GM"):
        await voices.settings(alice(), "Marta", VoiceChange(temperature=1.0))
    with pytest.raises(UserError, match="No NPC named 'Tobin'"):
        await voices.settings(gm(), "Tobin", VoiceChange())
    assert await _stored(tavern) == Voice()


async def test_backend_autocomplete_offers_the_default_and_the_named_ones(tavern: Tavern) -> None:
    voices = tavern.services.get(VoiceCommands)
    assert voices.backend_names("") == ["default", "narrator"]
    assert voices.backend_names("NA") == ["narrator"]


async def test_a_card_brings_its_voice_and_the_export_carries_the_current_one(
    tavern: Tavern,
) -> None:
    chars = tavern.services.get(CharacterCommands)
    ours = {"voice": {"temperature": 0.9, "backend": "narrator"}}
    await _npc(tavern, talkativeness="0.2", tavernkeep=ours)
    assert await _stored(tavern) == Voice(temperature=0.9, talkativeness=20, backend="narrator")

    await tavern.services.get(VoiceCommands).settings(gm(), "Marta", VoiceChange(min_p=0.3))
    reply = await chars.export(gm(), "Marta")
    assert reply.file is not None
    extensions = json.loads(reply.file[1])["data"]["extensions"]
    assert extensions["talkativeness"] == "0.2"
    assert extensions["tavernkeep"]["voice"] == {
        "temperature": 0.9,
        "min_p": 0.3,
        "backend": "narrator",
    }
    # The export imported again is the same NPC's voice.
    await chars.delete(gm(), "npc", "Marta")
    await chars.create(gm(), "npc", CharacterInput(card=("m.json", reply.file[1])))
    assert await _stored(tavern) == Voice(0.9, 0.3, None, None, 20, "narrator")


async def test_a_card_voice_this_server_cannot_keep_is_left_out_and_said(tavern: Tavern) -> None:
    chars = tavern.services.get(CharacterCommands)
    data = {"name": "Hale", "description": "A guard.", "extensions": {}}
    data["extensions"]["tavernkeep"] = {"voice": {"backend": "elsewhere", "min_p": 0.2}}
    raw = json.dumps({"spec": "chara_card_v2", "data": data}).encode()
    reply = await chars.create(gm(), "npc", CharacterInput(card=("h.json", raw)))
    assert "Left out of its card's voice: backend 'elsewhere'" in reply.text
    assert "\n" not in reply.text
    assert await _stored(tavern, "Hale") == Voice(min_p=0.2)


async def test_editing_with_a_card_changes_only_the_fields_it_sets(tavern: Tavern) -> None:
    chars, voices = tavern.services.get(CharacterCommands), tavern.services.get(VoiceCommands)
    await _npc(tavern)
    await voices.settings(gm(), "Marta", VoiceChange(temperature=1.3, talkativeness=10))
    data = {"name": "Marta", "description": "A baker.", "extensions": {"talkativeness": "0.9"}}
    raw = json.dumps({"spec": "chara_card_v2", "data": data}).encode()
    await chars.edit(gm(), "npc", "Marta", CharacterInput(card=("m.json", raw)))
    assert await _stored(tavern) == Voice(temperature=1.3, talkativeness=90)
    # A sheet says nothing of a voice: it stays.
    await chars.edit(gm(), "npc", "Marta", CharacterInput(sheet="A baker, older."))
    assert await _stored(tavern) == Voice(temperature=1.3, talkativeness=90)


async def test_the_scene_view_gives_each_cast_member_its_voice(tavern: Tavern) -> None:
    voices, stores = tavern.services.get(VoiceCommands), tavern.stores
    await _npc(tavern)
    await _npc(tavern, "Tobin")
    await voices.settings(gm(), "Tobin", VoiceChange(temperature=0.4, backend="narrator"))
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    for name in ("Marta", "Tobin"):
        npc = await stores.characters.find_npc(GUILD, name)
        assert npc is not None
        await stores.scenes.add_cast(scene.id, npc.id)
    view = await SceneViews(stores, Sampler()).view(scene)
    cast = {m.name: m.voice for m in view.npcs}
    assert cast == {"Marta": Voice(), "Tobin": Voice(temperature=0.4, backend="narrator")}
