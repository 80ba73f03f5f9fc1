"""Whom a post addresses, and silence: a reply to an NPC's message or its name makes it answer
(never a pass), several names answer in the order named, a reply to another player's post asks
for no round, and a round the model passed shows in /scene status.

On the scripted engine: its floor choice before a round answers "user" where a test wants the
model to pass, "model" where it wants an NPC to answer.
"""

from __future__ import annotations

import re

import pytest

from bot.channel.sessions import Trigger
from bot.store import Database
from tests.channel.helpers import CHANNEL, Tavern, build, gm, within_guard
from tests.channel.test_table_rounds import ALICE, BOB, CAROL, says, speakers, status, table
from tests.scripted_engine import ScriptedEngine


async def answered_by(tavern: Tavern, name: str) -> int:
    """`/reply as` `name`: the message id of its turn."""
    await tavern.services.play.reply(gm(), name)
    await within_guard(tavern.services.sessions.wait_idle())
    channel, speaker, _, _, ids = tavern.poster.posts[-1]
    assert (channel, speaker) == (CHANNEL, name)
    return ids[0]


@pytest.mark.parametrize("mode", ["auto", "mention", "table"])
async def test_a_reply_to_an_npcs_message_makes_it_answer_and_is_never_passed(
    db: Database, mode: str
) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["user"] * 4))  # may pass: passes
    await table(tavern, mode, "Tobin")
    tobins = await answered_by(tavern, "Tobin")
    started = tavern.services.sessions.rounds_started
    floors = len(tavern.engine.of_kind("floor"))

    await says(tavern, ALICE, "And then what happened?", reply_to=tobins)
    if mode == "table":  # it still waits for the others, then Tobin answers first
        assert tavern.services.sessions.rounds_started == started
        await says(tavern, BOB, "I lean in.")
        await says(tavern, CAROL, "Go on.")
    assert speakers(tavern)[-2:] == ["Tobin", "Tobin"]
    assert tavern.services.sessions.rounds_started == started + 1
    assert len(tavern.engine.of_kind("floor")) == floors  # nobody asked the model to pass


@pytest.mark.parametrize("mode", ["auto", "table"])
async def test_reply_is_never_passed(db: Database, mode: str) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["user"] * 2))  # may pass: passes
    await table(tavern, mode)
    await tavern.services.play.reply(gm(), None)
    await within_guard(tavern.services.sessions.wait_idle())
    assert speakers(tavern) == ["Marta"]
    assert tavern.engine.of_kind("floor") == []


async def test_a_reply_to_an_npc_in_manual_mode_waits_for_reply(db: Database) -> None:
    tavern = build(db)
    await table(tavern, "manual", "Tobin")
    tobins = await answered_by(tavern, "Tobin")
    started = tavern.services.sessions.rounds_started
    await says(tavern, ALICE, "And then?", reply_to=tobins)
    assert tavern.services.sessions.rounds_started == started


async def test_npcs_named_in_one_post_answer_in_the_order_named(db: Database) -> None:
    tavern = build(db)
    await table(tavern, "auto", "Tobin", "Hale")
    await says(tavern, ALICE, "Hale? Tobin? Marta? Who saw the thief?")
    assert speakers(tavern) == ["Hale", "Tobin", "Marta"]


async def test_the_npc_replied_to_answers_before_those_named(db: Database) -> None:
    tavern = build(db)
    await table(tavern, "auto", "Tobin")
    martas = await answered_by(tavern, "Marta")
    await says(tavern, ALICE, "Ask Tobin, then.", reply_to=martas)
    assert speakers(tavern) == ["Marta", "Marta", "Tobin"]


async def test_a_reply_to_another_players_post_starts_no_round_in_auto(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["user"] * 4))
    await table(tavern, "auto")
    alices = await says(tavern, ALICE, "Shall we ask about the road?")
    sessions = tavern.services.sessions
    assert sessions.rounds_started == 1  # unaddressed: the model passed
    await says(tavern, BOB, "Let's wait until dark.", reply_to=alices)
    assert sessions.rounds_started == 1

    # A player's reply that names an NPC is for that NPC.
    await says(tavern, BOB, "Marta will know.", reply_to=alices)
    assert sessions.rounds_started == 2 and speakers(tavern) == ["Marta"]
    # A reply to one's own post is no conversation between players.
    bobs = await says(tavern, BOB, "Or not.")
    await says(tavern, BOB, "Well?", reply_to=bobs)
    assert sessions.rounds_started == 4


async def test_in_table_mode_a_reply_to_a_player_counts_as_acting(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["model"]))
    await table(tavern)
    alices = await says(tavern, ALICE, "Shall we ask about the road?")
    await says(tavern, BOB, "Not yet.", reply_to=alices)
    assert tavern.services.sessions.rounds_started == 0
    assert "waiting for Cora" in await status(tavern)
    await says(tavern, CAROL, "I stay by the door.")
    assert speakers(tavern) == ["Marta"]


async def test_when_the_table_is_done_by_a_reply_between_players_the_timeout_answers(
    db: Database,
) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["model"]))
    await table(tavern)
    alices = await says(tavern, ALICE, "Shall we?")
    await says(tavern, CAROL, "Yes.")
    await says(tavern, BOB, "Agreed.", reply_to=alices)
    assert tavern.services.sessions.rounds_started == 0
    assert "waiting for nobody" in await status(tavern)
    tavern.services.sessions.time_out(CHANNEL)
    await within_guard(tavern.services.sessions.wait_idle())
    assert speakers(tavern) == ["Marta"]


async def test_a_reply_between_players_that_opens_a_round_arms_the_timeout(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["model"]))
    await table(tavern)
    aside = await says(tavern, ALICE, "(( shall we split up? ))")  # OOC: no act, no timeout
    assert "at the latest" not in await status(tavern)
    await says(tavern, BOB, "(( fine by me ))", reply_to=aside)
    await says(tavern, BOB, "Brann heads for the stables.", reply_to=aside)
    shown = await status(tavern)
    assert "waiting for Ayla, Cora" in shown and "at the latest" in shown
    assert tavern.services.sessions.rounds_started == 0


async def test_a_passed_round_shows_in_scene_status_until_an_npc_speaks(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["user"]))
    await table(tavern, "auto")
    assert "Last round" not in await status(tavern)
    await says(tavern, ALICE, "The fire crackles.")
    assert tavern.services.sessions.rounds_started == 1 and speakers(tavern) == []
    passed = re.search(r"\*\*Last round\*\* (.*)", await status(tavern))
    assert passed is not None
    assert re.fullmatch(
        r"the NPCs let the players talk \(the model passed\) after Ayla's post, "
        r"at \d\d:\d\d UTC",
        passed.group(1),
    )
    await says(tavern, ALICE, "Marta?")
    assert speakers(tavern) == ["Marta"]
    assert "Last round" not in await status(tavern)


async def test_a_table_round_may_pass_too(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(floors=["user"]))
    scene_id = await table(tavern)
    await tavern.stores.scenes.set_present(scene_id, ALICE, False)
    await says(tavern, BOB, "Long day.")
    await says(tavern, CAROL, "Quiet night.")
    assert tavern.services.sessions.rounds_started == 1 and speakers(tavern) == []
    assert "after Cora's post" in await status(tavern)


async def test_a_lone_players_post_is_always_answered(db: Database) -> None:
    # Scripted to pass if asked: a lone player cannot be talking among themselves, so the
    # model is never asked.
    engine = ScriptedEngine(floors=["user"])
    tavern = build(db, engine=engine)
    scene_id = await table(tavern)
    for user_id in (ALICE, BOB):
        await tavern.stores.scenes.set_present(scene_id, user_id, False)
    await says(tavern, CAROL, "Quiet night.")
    assert speakers(tavern) == ["Marta"] and engine.of_kind("floor") == []


def test_merging_keeps_every_forced_name_in_order_and_passing_only_if_both_may() -> None:
    merged = Trigger("Marta").merge(Trigger(("Tobin", "marta"), 4.0))
    assert merged == Trigger(("Marta", "Tobin"), 4.0)
    assert Trigger(may_pass=True).merge(Trigger(delay=1.0, may_pass=True)).may_pass
    assert not Trigger(may_pass=True).merge(Trigger()).may_pass  # then /reply
    assert not Trigger().merge(Trigger(may_pass=True)).may_pass
    assert Trigger(None).forced == () and Trigger("Marta").forced == ("Marta",)


async def test_with_npcs_may_pass_off_every_round_answers(db: Database) -> None:
    engine = ScriptedEngine(floors=["user"])  # would pass if it were asked
    tavern = build(db, engine=engine, npcs_may_pass=False)
    scene_id = await table(tavern)
    await tavern.stores.scenes.set_present(scene_id, ALICE, False)
    await says(tavern, BOB, "Long day.")
    await says(tavern, CAROL, "Quiet night.")
    assert speakers(tavern) == ["Marta"]
