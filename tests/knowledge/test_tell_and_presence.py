"""`/npc tell`, `/scene who`, `/scene leave` and `/scene enter` over the real stores."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.knowledge.rules import TELL_MAX_CHARS
from bot.store import Database
from tests.channel.helpers import GUILD, alice, bob, build, gm, stranger
from tests.knowledge.helpers import table


async def test_a_tell_is_known_to_that_npc_alone(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta", "Rook")
    assert t.ayla is not None
    marta, rook = t.npcs["Marta"], t.npcs["Rook"]
    posts = len(tavern.poster.posts)
    reply = await t.knowledge.tell(gm(), "marta", "  The ledger is forged.  ")
    assert reply.ephemeral and reply.text == "Told **Marta** alone. No one else knows it."
    assert len(tavern.poster.posts) == posts
    tell = (await t.turns())[-1]
    assert (tell.kind, tell.role, tell.speaker, tell.content, tell.character_id) == (
        "tell",
        "narration",
        "GM",
        "The ledger is forged.",
        None,
    )
    assert await tavern.stores.turns.witnesses([tell.id]) == {tell.id: {marta.id}}
    for other in (rook.id, t.ayla.id):
        seen = await tavern.stores.turns.lines(t.scene_id, 50, witness=other)
        assert tell.id not in {line.id for line in seen}


async def test_a_tell_may_brief_an_npc_before_it_joins(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    ivo = await tavern.stores.characters.create(
        guild_id=GUILD, kind="npc", name="Ivo", sheet="**Character Name**: Ivo"
    )
    reply = await t.knowledge.tell(gm(), "Ivo", "You owe Marta money.")
    assert "not in the cast now" in reply.text
    tell = (await t.turns())[-1]
    assert await tavern.stores.turns.witnesses([tell.id]) == {tell.id: {ivo.id}}


async def test_only_a_gm_tells_and_bad_tells_get_one_line(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    before = [turn.id for turn in await t.turns()]
    with pytest.raises(UserError, match=r"^Only a GM can do that"):
        await t.knowledge.tell(alice(), "Marta", "I am the GM now.")
    refusals = {
        "No NPC named Nobody.": ("Nobody", "Hello."),
        "The tell is empty.": ("Marta", " "),
        f"The tell is limited to {TELL_MAX_CHARS:,} characters.": (
            "Marta",
            "x" * (TELL_MAX_CHARS + 1),
        ),
    }
    for text, (npc, words) in refusals.items():
        with pytest.raises(UserError) as refused:
            await t.knowledge.tell(gm(), npc, words)
        assert str(refused.value) == text
    assert [turn.id for turn in await t.turns()] == before


async def test_leave_and_enter_change_what_a_character_witnesses(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    assert t.ayla is not None
    marta = t.npcs["Marta"].id
    left = await t.knowledge.set_present(alice(), False)
    assert left.text.startswith("**Ayla** leaves the scene") and not left.ephemeral
    again = await t.knowledge.set_present(alice(), False)
    assert again.text == "**Ayla** is already away." and again.ephemeral
    missed = await tavern.stores.turns.append(
        t.scene_id, role="model", speaker="Marta", content="She is gone.", character_id=marta
    )
    entered = await t.knowledge.set_present(alice(), True)
    assert entered.text == "**Ayla** enters the scene." and not entered.ephemeral
    seen = await tavern.stores.turns.append(
        t.scene_id, role="model", speaker="Marta", content="Welcome back.", character_id=marta
    )
    witnessed = await tavern.stores.turns.witnesses([missed.id, seen.id])
    assert t.ayla.id not in witnessed[missed.id] and t.ayla.id in witnessed[seen.id]


async def test_leaving_needs_a_bound_character(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    for present in (False, True):
        with pytest.raises(UserError, match=r"^You have no character in this scene"):
            await t.knowledge.set_present(bob(), present)


async def test_who_names_the_cast_and_the_players_here_and_away(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta", "Rook")
    await t.scenes.mute(gm(), "Rook", True)
    reply = await t.knowledge.who(stranger())
    assert reply.text == "**NPCs** Marta, Rook (muted)\n**Players here** Ayla"
    await t.knowledge.set_present(alice(), False)
    reply = await t.knowledge.who(alice())
    assert reply.text == "**NPCs** Marta, Rook (muted)\n**Players here** nobody\n**Away** Ayla"


async def test_nothing_is_whispered_or_told_while_the_database_refuses_writes(
    db: Database,
) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    before = [turn.id for turn in await t.turns()]
    tavern.services.deps.gate.down = True  # as after a write the database refused
    for attempt in (
        t.knowledge.tell(gm(), "Marta", "The ledger is forged."),
        t.knowledge.whisper(alice(), "Marta", "Psst.", t.hear),
    ):
        with pytest.raises(UserError, match=r"^The database is not taking writes"):
            await attempt
    assert [turn.id for turn in await t.turns()] == before and t.heard == []
