"""`/narrate` and `/suggest` with a scripted engine: what is posted, stored and triggered."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.store import Database, Stores
from tests.channel.helpers import ALICE, CHANNEL, GUILD, alice, bob, build, gm, marta_scene
from tests.scripted_engine import ScriptedEngine

AVATAR = "https://example.org/narrator.png"


async def _alice_plays_ayla(stores: Stores) -> None:
    ayla = await stores.characters.create(
        guild_id=GUILD, kind="player", name="Ayla", sheet="A sailor.", owner_id=ALICE
    )
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    await stores.scenes.bind_player(scene.id, ALICE, ayla.id)


async def test_narration_is_posted_as_the_narrator_stored_and_answered(db: Database) -> None:
    tavern = build(db, narrator_name="The Fog", narrator_avatar=AVATAR)
    scene_id = await marta_scene(tavern)
    reply = await tavern.services.authored.narrate(gm(), "  A bell rings twice.  ")
    assert reply.text == "Narrated."
    narration = tavern.poster.posts[-1]
    assert narration[1:4] == ("The Fog", AVATAR, "A bell rings twice.")
    turns = await tavern.stores.turns.window(scene_id, 10)
    stored = next(t for t in turns if t.role == "narration")
    assert (stored.speaker, stored.content, stored.pending) == (
        "The Fog",
        "A bell rings twice.",
        False,
    )
    assert stored.message_ids == narration[4]
    await tavern.services.sessions.wait_idle()
    assert tavern.engine.of_kind("text"), "narration starts a round like a player's post"
    assert "The Fog: A bell rings twice." in tavern.engine.of_kind("text")[0].prompt.text


async def test_only_a_gm_narrates_and_empty_or_long_narration_is_refused(db: Database) -> None:
    tavern = build(db)
    await marta_scene(tavern)
    posts = len(tavern.poster.posts)
    with pytest.raises(UserError, match="Only a GM"):
        await tavern.services.authored.narrate(alice(), "I narrate now.")
    with pytest.raises(UserError, match="empty"):
        await tavern.services.authored.narrate(gm(), "   ")
    with pytest.raises(UserError, match="4,000"):
        await tavern.services.authored.narrate(gm(), "x" * 4001)
    assert len(tavern.poster.posts) == posts


async def test_suggest_drafts_privately_and_post_stores_the_players_turn(db: Database) -> None:
    engine = ScriptedEngine(texts=["Ayla: *Ayla shrugs.* Not my boat.", "Reply."])
    tavern = build(db, engine=engine)
    scene_id = await marta_scene(tavern)
    await _alice_plays_ayla(tavern.stores)
    before = await tavern.stores.turns.count(scene_id)
    draft = await tavern.services.authored.draft(alice(), "deny it")
    assert (draft.speaker, draft.text) == ("Ayla", "*Ayla shrugs.* Not my boat.")
    assert await tavern.stores.turns.count(scene_id) == before  # a draft stores nothing
    assert engine.of_kind("text")[0].prompt.text.endswith("[INST]user\nAyla:")

    reply = await tavern.services.authored.post_draft(alice(), draft.text)
    assert reply.text == "Posted as Ayla."
    posted = tavern.poster.posts[-1]
    assert posted[1] == "Ayla" and posted[3] == draft.text
    last = [t for t in await tavern.stores.turns.window(scene_id, 10) if t.role == "user"][-1]
    assert (last.speaker, last.author_id, last.content) == ("Ayla", ALICE, draft.text)
    await tavern.services.sessions.wait_idle()
    assert len(engine.of_kind("text")) == 2, "the posted draft starts a round"


async def test_suggest_needs_a_character_and_a_scene(db: Database) -> None:
    tavern = build(db)
    with pytest.raises(UserError, match="no scene in this channel"):
        await tavern.services.authored.draft(bob(), None)
    await marta_scene(tavern)
    with pytest.raises(UserError, match="no character in this scene"):
        await tavern.services.authored.draft(bob(), None)
    with pytest.raises(UserError, match="no character in this scene"):
        await tavern.services.authored.post_draft(bob(), "Hello.")
