"""`/scene memory` over every view: the shared story, and the NPCs with their own."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.memory.service import OWN_LISTED, own_stories
from bot.scenes.service import SceneCommands
from bot.store import SHARED_VIEW, Database, StorySummary
from tests.channel.helpers import gm
from tests.memory.helpers import Table, table


async def marta_knows_more(db: Database) -> Table:
    """Marta heard a whisper, Ivo saw what everyone saw; one round's stories are written."""
    t = await table(db, "Marta", "Ivo")
    await t.talk(10)
    await t.whisper("Marta")
    await t.talk(70)
    assert await t.fold() == 2
    return t


async def test_show_names_the_npcs_with_their_own_story(db: Database) -> None:
    t = await marta_knows_more(db)
    stories = await t.stories()
    shared, marta = stories[SHARED_VIEW], stories[t.own("Marta")]

    shown = (await t.memory.show(gm())).text
    assert f"The story so far covers turns 1–{shared.through}." in shown
    assert f"Marta (turns 1–{marta.through})" in shown and "Ivo" not in shown
    assert shown.endswith(f">>> {shared.text}")

    own = await t.memory.show(gm(), " marta ")
    assert own.text == (
        f"Marta's own story so far covers turns 1–{marta.through}.\n>>> {marta.text}"
    )
    assert (await t.memory.show(gm(), "Ivo")).text == (
        "Ivo has no story of its own: it shares the scene's."
    )
    await t.cast("Rook")  # came after the turns the shared story tells of
    assert "its prompt has none" in (await t.memory.show(gm(), "Rook")).text
    with pytest.raises(UserError, match="Nobody is not in this scene's cast"):
        await t.memory.show(gm(), "Nobody")


async def test_edit_one_npc_s_story_and_clear_every_view(db: Database) -> None:
    t = await marta_knows_more(db)
    before = await t.stories()
    marta = before[t.own("Marta")]

    edited = await t.memory.edit(gm(), "  Marta knows where the ledger is. ", "Marta")
    assert edited.text == f"Marta's own story so far updated: it covers turns 1–{marta.through}."
    await t.memory.edit(gm(), "Ivo keeps his own counsel.", "ivo")
    await t.memory.edit(gm(), "The harbor woke.")
    stories = await t.stories()
    assert stories[t.own("Marta")] == StorySummary(
        "Marta knows where the ledger is.", marta.through
    )
    # Ivo read the shared story until now: his own covers what it covered.
    assert stories[t.own("Ivo")] == StorySummary(
        "Ivo keeps his own counsel.", before[SHARED_VIEW].through
    )
    assert stories[SHARED_VIEW].text == "The harbor woke."
    assert "Ivo (turns 1–" in (await t.memory.show(gm())).text
    with pytest.raises(UserError):
        await t.memory.edit(gm(), "Text.", "Nobody")

    cleared = await t.memory.clear(gm())
    assert cleared.text.startswith("Story so far cleared (and 2 NPCs' own)")
    assert await t.stories() == {}


async def test_an_npc_who_left_the_cast_keeps_its_story_in_reach(db: Database) -> None:
    t = await marta_knows_more(db)
    await t.tavern.services.get(SceneCommands).remove_npc(gm(), "Marta")
    assert "Marta (turns 1–" in (await t.memory.show(gm())).text
    assert "covers turns" in (await t.memory.show(gm(), "Marta")).text


def test_a_long_list_of_own_stories_is_cut() -> None:
    named = [(f"NPC {i}", StorySummary("Text.", i)) for i in range(OWN_LISTED + 3)]
    line = own_stories(named)
    assert f"NPC {OWN_LISTED - 1} (turns 1–{OWN_LISTED - 1})" in line
    assert f"NPC {OWN_LISTED} " not in line and line.endswith(", 3 more.")
    assert own_stories([]) == ""
