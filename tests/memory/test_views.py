"""The story so far per view: whispers and tells reach only their NPC's own story."""

from __future__ import annotations

from bot.scenes.service import SceneCommands
from bot.store import SHARED_VIEW, Database
from tests.channel.helpers import gm
from tests.memory.helpers import TELL, WHISPER, table

LATER_WHISPER = "Meet me at the pier at midnight."
SECRET_ROLL = "Ayla rolls a secret 17."


async def test_a_whisper_and_a_tell_reach_only_their_npc_s_story(db: Database) -> None:
    t = await table(db, "Marta", "Ivo")
    await t.talk(10)
    await t.whisper("Marta")
    await t.tell("Ivo")
    await t.tavern.stores.turns.append(
        t.scene_id, role="user", speaker="Ayla", content=SECRET_ROLL, kind="roll", private=True
    )
    await t.talk(70)

    assert await t.fold() == 3

    assert set(await t.stories()) == {SHARED_VIEW, t.own("Marta"), t.own("Ivo")}
    shared, marta, ivo = (
        await t.read_by(SHARED_VIEW),
        await t.read_by(t.own("Marta")),
        await t.read_by(t.own("Ivo")),
    )
    assert "Ayla says line 0." in shared and WHISPER not in shared and TELL not in shared
    assert f"Ayla (in private): {WHISPER}" in marta and TELL not in marta
    assert f"GM (in private): {TELL}" in ivo and WHISPER not in ivo
    assert all(SECRET_ROLL not in read for read in (shared, marta, ivo))

    await t.whisper("Marta", LATER_WHISPER)  # the stories go on, each from its own view
    await t.talk(60)
    assert await t.fold() == 3
    assert LATER_WHISPER in await t.read_by(t.own("Marta"))
    assert LATER_WHISPER not in await t.read_by(t.own("Ivo"))
    assert LATER_WHISPER not in await t.read_by(SHARED_VIEW)


async def test_npcs_who_saw_everything_share_one_story(db: Database) -> None:
    t = await table(db, "Marta", "Ivo")
    await t.talk(80)
    assert await t.fold() == 1
    await t.talk(60)
    assert await t.fold() == 1
    stories = await t.stories()
    assert list(stories) == [SHARED_VIEW] and stories[SHARED_VIEW].through > 80


async def test_a_late_npc_s_story_holds_only_what_it_saw(db: Database) -> None:
    t = await table(db, "Marta")
    await t.talk(80)
    assert await t.fold() == 1
    shared = (await t.stories())[SHARED_VIEW]
    joined_after = t.said
    await t.cast("Ivo")
    await t.talk(100)

    assert await t.fold() == 2  # the shared story, and Ivo's own
    ivo = await t.read_by(t.own("Ivo"))
    assert f"Ayla says line {joined_after}." in ivo
    assert shared.text not in ivo, "the shared story tells of turns Ivo missed"
    assert not any(f"Ayla says line {i}." in ivo for i in range(joined_after))
    assert t.own("Marta") not in await t.stories()


async def test_a_view_that_parts_later_starts_from_the_shared_story(db: Database) -> None:
    t = await table(db, "Marta", "Ivo")
    await t.talk(80)
    assert await t.fold() == 1
    before = (await t.stories())[SHARED_VIEW]
    await t.whisper("Marta")
    await t.talk(80)

    assert await t.fold() == 2
    stories = await t.stories()
    assert set(stories) == {SHARED_VIEW, t.own("Marta")}
    marta = t.engine.made[max(t.engine.made)].prompt.text  # her step came after the shared one
    assert f"Story so far: {before.text}" in marta and WHISPER in marta
    assert "Ayla says line 0." not in marta, "the turns the shared story covers are not read again"
    assert stories[t.own("Marta")].through > before.through
    assert WHISPER not in await t.read_by(SHARED_VIEW)


async def test_one_step_per_view_a_round_and_only_for_the_cast(db: Database) -> None:
    t = await table(db, "Marta", "Ivo")
    await t.whisper("Marta")
    await t.tell("Ivo")
    await t.talk(240)  # a backlog of several steps for every view

    assert await t.fold() == 3
    assert t.engine.summaries == 3, "one request per view, however far behind"
    ivo = (await t.stories())[t.own("Ivo")]
    await t.tavern.services.get(SceneCommands).remove_npc(gm(), "Ivo")
    await t.talk(20)

    assert await t.fold() == 2  # the shared story and Marta's: Ivo left the cast
    assert t.engine.summaries == 5
    assert (await t.stories())[t.own("Ivo")] == ivo
