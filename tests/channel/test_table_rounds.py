"""Reply mode `table`: the NPCs answer once every present player character has posted (not
OOC), when the round timeout passes, or on /reply; status names whom the table waits for.

Control flow on the scripted engine: its floor choice before a round says whether an NPC
answers ("model") or the model passes ("user").
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.channel.ports import IncomingMessage
from bot.dice.service import DiceCommands
from bot.errors import UserError
from bot.scenes.service import SceneCommands, SceneSettings
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    Tavern,
    bob,
    build,
    gm,
    marta_scene,
    within_guard,
)
from tests.scripted_engine import ScriptedEngine

CAROL = 202
PLAYERS = ((ALICE, "Ayla"), (BOB, "Brann"), (CAROL, "Cora"))
_ids = itertools.count(1)


def _engine(*floors: str) -> ScriptedEngine:
    return ScriptedEngine(floors=floors, texts=[f"Reply {i}." for i in range(10)])


async def table(tavern: Tavern, mode: str = "table", *npcs: str) -> int:
    """Marta's scene (and `npcs`) in `mode`, where Alice, Bob and Carol play Ayla, Brann, Cora."""
    stores = tavern.stores
    scene_id = await marta_scene(tavern, reply_mode=mode, max_replies=1)
    for name in npcs:
        await stores.characters.create(guild_id=GUILD, kind="npc", name=name, sheet=f"{name}.")
        await tavern.services.get(SceneCommands).add_npc(gm(), name)
    for user_id, name in PLAYERS:
        character = await stores.characters.create(
            guild_id=GUILD, kind="player", name=name, sheet="A traveller.", owner_id=user_id
        )
        await stores.scenes.bind_player(scene_id, user_id, character.id)
    return scene_id


async def says(tavern: Tavern, user_id: int, text: str, reply_to: int | None = None) -> int:
    """A member posts; returns its message id once stored and any round it started is done."""
    message_id = next(_ids)
    message = IncomingMessage(
        message_id, CHANNEL, GUILD, user_id, f"user{user_id}", text, reply_to=reply_to
    )
    await tavern.services.play.on_message(message)
    await within_guard(tavern.services.sessions.wait_idle())
    return message_id


async def status(tavern: Tavern) -> str:
    return (await tavern.services.get(SceneCommands).status(gm())).text


def speakers(tavern: Tavern) -> list[str]:
    return [speaker for _, speaker, _, _, _ in tavern.poster.posts]


async def test_a_table_round_waits_for_all_three_players(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    await table(tavern)
    await says(tavern, ALICE, "I sit down by the fire.")
    await says(tavern, BOB, "I order an ale.")
    assert tavern.services.sessions.rounds_started == 0 and speakers(tavern) == []
    shown = await status(tavern)
    assert "**Table** waiting for Cora · **round timeout** 5 min" in shown
    assert "at the latest" in shown  # the first post armed the timeout

    await says(tavern, CAROL, "I watch the door.")
    assert speakers(tavern) == ["Marta"]
    assert tavern.services.sessions.rounds_started == 1
    # A new round: the table waits for everyone again, and nobody has posted to time out.
    shown = await status(tavern)
    assert "waiting for Ayla, Brann, Cora" in shown and "at the latest" not in shown


async def test_ooc_posts_do_not_count_as_acting(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    await table(tavern)
    await says(tavern, ALICE, "I sit down.")
    await says(tavern, BOB, "I order an ale.")
    await says(tavern, CAROL, "(( brb, the kettle ))")
    assert tavern.services.sessions.rounds_started == 0
    assert "waiting for Cora" in await status(tavern)
    await says(tavern, CAROL, "Cora slips in.")
    assert speakers(tavern) == ["Marta"]


async def test_a_player_who_left_is_not_waited_for(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    scene_id = await table(tavern)
    await tavern.stores.scenes.set_present(scene_id, CAROL, False)  # /scene leave
    assert "waiting for Ayla, Brann ·" in await status(tavern)
    await says(tavern, ALICE, "I sit down.")
    assert tavern.services.sessions.rounds_started == 0
    await says(tavern, BOB, "I order an ale.")
    assert speakers(tavern) == ["Marta"]


async def test_the_round_timeout_answers_those_who_posted(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    await table(tavern)
    await says(tavern, ALICE, "I sit down.")
    await says(tavern, BOB, "I order an ale.")
    assert tavern.services.sessions.rounds_started == 0
    tavern.services.sessions.time_out(CHANNEL)  # the timer's callback, without the wait
    await within_guard(tavern.services.sessions.wait_idle())
    assert speakers(tavern) == ["Marta"]
    assert "at the latest" not in await status(tavern)


async def test_the_round_timeout_runs_on_its_own(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    await table(tavern)
    tavern.services.play.table.default_timeout = 0.01  # the scene sets none: the setting's
    await says(tavern, ALICE, "I sit down.")  # Bob and Carol are away from the keyboard
    sessions = tavern.services.sessions

    async def answered() -> None:
        while sessions.rounds_started == 0:
            await asyncio.sleep(0.01)
        await sessions.wait_idle()

    await within_guard(answered())
    assert speakers(tavern) == ["Marta"]


async def test_a_scenes_round_timeout_wins_over_the_setting(db: Database) -> None:
    tavern = build(db)
    await table(tavern)
    reply = await tavern.services.get(SceneCommands).settings(gm(), SceneSettings(round_timeout=90))
    assert reply.text == (
        "Scene settings changed: round_timeout = 90. "
        "Reply mode table · round timeout 90 s (table mode)."
    )
    assert "**round timeout** 90 s" in await status(tavern)


@pytest.mark.parametrize("seconds", [9, 0, -5, 86_401])
async def test_a_round_timeout_out_of_bounds_is_refused(db: Database, seconds: int) -> None:
    tavern = build(db)
    scene_id = await table(tavern)
    with pytest.raises(UserError) as refused:
        await tavern.services.get(SceneCommands).settings(
            gm(), SceneSettings(round_timeout=seconds)
        )
    assert str(refused.value) == "round_timeout must be between 10 and 86400 seconds (24 h)."
    assert (await tavern.stores.scenes.get(scene_id)).round_timeout is None


@pytest.mark.parametrize("seconds", [10, 86_400])
async def test_the_round_timeout_bounds_are_taken(db: Database, seconds: int) -> None:
    tavern = build(db)
    scene_id = await table(tavern)
    await tavern.services.get(SceneCommands).settings(gm(), SceneSettings(round_timeout=seconds))
    assert (await tavern.stores.scenes.get(scene_id)).round_timeout == seconds


async def test_reply_answers_now_with_the_npc_named_first_and_never_passes(db: Database) -> None:
    tavern = build(db, engine=_engine("user", "user"))  # a round that may pass would pass
    await table(tavern, "table", "Tobin")
    await says(tavern, ALICE, "Tobin, what news?")
    assert tavern.services.sessions.rounds_started == 0  # held for Bob and Carol
    await tavern.services.play.reply(gm(), None)
    await within_guard(tavern.services.sessions.wait_idle())
    assert speakers(tavern) == ["Tobin"]
    assert "waiting for Ayla, Brann, Cora" in await status(tavern)


async def test_a_mode_change_gives_up_the_held_round(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    await table(tavern)
    await says(tavern, ALICE, "I sit down.")
    session = tavern.services.sessions.get(CHANNEL)
    assert session.table.timer is not None
    await tavern.services.get(SceneCommands).settings(gm(), SceneSettings(reply_mode="manual"))
    assert session.table.timer is None and session.table.held is None
    await within_guard(tavern.services.sessions.wait_idle())
    assert tavern.services.sessions.rounds_started == 0


async def test_scene_resume_counts_the_posts_made_while_paused(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    await table(tavern)
    scenes = tavern.services.get(SceneCommands)
    await scenes.pause(gm())
    for user_id, _ in PLAYERS[:2]:
        await says(tavern, user_id, "We wait.")
    resumed = await scenes.resume(gm())
    assert resumed.text == "Scene resumed."  # Carol has not posted: the table waits for her
    assert "waiting for Cora" in await status(tavern)
    await says(tavern, CAROL, "Here I am.")
    assert speakers(tavern) == ["Marta"]


async def test_a_roll_counts_as_acting(db: Database) -> None:
    tavern = build(db, engine=_engine("model"))
    scene_id = await table(tavern)
    await tavern.stores.scenes.set_present(scene_id, CAROL, False)
    await says(tavern, ALICE, "I check the lock.")
    await tavern.services.get(DiceCommands).roll(bob(), "1d20", "lockpicking")
    await within_guard(tavern.services.sessions.wait_idle())
    assert speakers(tavern)[-1] == "Marta"  # Brann's roll was the last of the table to act
