"""End to end: /roll, /stat and dice bots through the real discord.py client and the fake Discord.

The module's bot runs the demo model; the one test that needs an NPC to write a state marker
runs its own bot on the scripted engine, since what the demo model writes is not ours to choose.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e import (
    Mark,
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    attachment_text,
    cast_scene,
    click,
    command,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    player_says,
    settle,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.scripted_engine import ScriptedEngine

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

DICE_BOT_ID = 730000000000000001  # listed in DICE_BOT_IDS
CHATTY_BOT_ID = 730000000000000002  # a bot nobody listed
KERI_SHEET = "**Character Name**: Keri **Age**: 19 **Occupation/Profession**: Cutpurse"
ROLL_LINE = re.compile(r"^Keri rolls 1d20\+5 for Stealth: (\d+) \((\d+) \+ 5\)$")


def _add_members(fake: FakeDiscord) -> None:
    fake.add_member(DICE_BOT_ID, "dicey", bot=True)
    fake.add_member(CHATTY_BOT_ID, "chatty", bot=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    db = tmp_path_factory.mktemp("e2e-dice") / "bot.db"
    async for fake in fake_discord(_add_members):
        settings = e2e_settings(fake, db, dice_bot_ids=str(DICE_BOT_ID), max_new_tokens=24)
        bot = await start_bot(fake, settings)
        try:
            yield bot
        finally:
            await stop_bot(bot)


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def checked(running: Running) -> AsyncIterator[None]:
    await running.idle()
    mark = Mark.now(running.fake)
    yield
    await running.idle()
    assert_no_pings_or_tracebacks(running.fake, mark)


async def _table(running: Running, name: str, npc: str, **settings: Any) -> int:
    """A channel where the GM cast `npc` and Alice plays Keri."""
    chan = await cast_scene(running, name, (Npc(npc),), **settings)
    made = await command(
        running.fake,
        "character",
        "create",
        user_id=running.fake.player_ids[0],
        channel_id=chan,
        options={"sheet": KERI_SHEET},
    )
    assert "Keri" in made["content"], made["content"]
    await command(
        running.fake,
        "character",
        "use",
        user_id=running.fake.player_ids[0],
        channel_id=chan,
        options={"name": "Keri"},
    )
    return chan


async def _prompt(running: Running, chan: int) -> str:
    answered = await command(
        running.fake, "scene", "prompt", user_id=running.fake.admin_id, channel_id=chan
    )
    return attachment_text(answered)[1]


async def test_a_roll_is_posted_under_the_character_and_the_next_prompt_holds_it(
    running: Running,
) -> None:
    fake = running.fake
    chan = await _table(running, "dice-roll", "Brannoc", reply_mode="manual")
    since = len(fake.messages)

    answered = await command(
        fake,
        "roll",
        user_id=fake.player_ids[0],
        channel_id=chan,
        options={"dice": "1d20+5", "reason": "Stealth"},
    )

    posted = npc_posts(fake, chan, since)  # the webhook's posts: the roll, under Keri's name
    assert [p["username"] for p in posted] == ["Keri"]
    rolled = ROLL_LINE.match(posted[0]["content"])
    assert rolled is not None, posted[0]["content"]
    total, die = int(rolled[1]), int(rolled[2])
    assert 1 <= die <= 20 and total == die + 5
    assert is_ephemeral(answered) and answered["content"] == f"Rolled: {total}."
    await settle(running, posted)
    assert posted[0]["content"] in await _prompt(running, chan)


async def test_a_roll_is_acting_the_npcs_answer_it(running: Running) -> None:
    fake = running.fake
    chan = await _table(running, "dice-answer", "Odalys", max_replies=1)
    since = len(fake.messages)
    await command(
        fake, "roll", user_id=fake.player_ids[0], channel_id=chan, options={"dice": "2d6"}
    )
    await running.idle()
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Keri", "Odalys"]


async def test_a_private_roll_reaches_nobody_but_the_roller(running: Running) -> None:
    fake = running.fake
    chan = await _table(running, "dice-private", "Cressida", reply_mode="manual")
    since = len(fake.messages)
    answered = await command(
        fake,
        "roll",
        user_id=fake.player_ids[0],
        channel_id=chan,
        options={"dice": "1d20", "reason": "Insight", "private": True},
    )
    assert is_ephemeral(answered) and "Private" in answered["content"]
    assert answered["content"].startswith("Keri rolls 1d20 for Insight: ")
    assert npc_posts(fake, chan, since) == []
    assert "Insight" not in await _prompt(running, chan)
    exported = await command(fake, "scene", "export", user_id=fake.admin_id, channel_id=chan)
    assert "Keri (private): Keri rolls 1d20 for Insight" in attachment_text(exported)[1]


async def test_bad_dice_get_one_private_line_and_nothing_is_posted(running: Running) -> None:
    fake = running.fake
    chan = await _table(running, "dice-bad", "Hollis", reply_mode="manual")
    since = len(fake.messages)
    for dice in ("2d", "1d20+", "500d6", "1d100000"):
        answered = await command(
            fake, "roll", user_id=fake.player_ids[0], channel_id=chan, options={"dice": dice}
        )
        assert is_ephemeral(answered) and "\n" not in answered["content"], answered["content"]
    assert npc_posts(fake, chan, since) == []
    assert await running.turns(chan) == []


async def test_stat_changes_show_in_the_scene_prompt(running: Running) -> None:
    fake = running.fake
    chan = await _table(running, "dice-stats", "Pell", reply_mode="manual")
    gm = {"user_id": fake.admin_id, "channel_id": chan}
    for sub, key, value in (("set", "HP", "12/20"), ("add", "HP", "-3"), ("set", "Bag", "rope")):
        options = {"key": key, "value": value, "character": "Keri"}
        answered = await command(fake, "stat", sub, options=options, **gm)
        assert is_ephemeral(answered), answered["content"]
    assert "Keri: HP 9/20; Bag: rope" in await _prompt(running, chan)
    # A player may not change values until a GM allows it.
    refused = await command(
        fake,
        "stat",
        "set",
        user_id=fake.player_ids[0],
        channel_id=chan,
        options={"key": "HP", "value": "20/20"},
    )
    assert "only a GM" in refused["content"]
    assert "Keri: HP 9/20" in await _prompt(running, chan)


async def test_a_listed_dice_bot_is_heard_and_other_bots_are_not(running: Running) -> None:
    fake = running.fake
    chan = await _table(running, "dice-bots", "Wendel", reply_mode="manual")
    embed = {"title": "Keri rolls Stealth", "description": "1d20 (14) + 5 = `19`"}
    heard = await fake.user_message(chan, DICE_BOT_ID, "", embeds=[embed])
    ignored = await fake.user_message(chan, CHATTY_BOT_ID, "Daily reminder: drink water!")
    for message in (heard, ignored):
        await running.probe.handled("message", message["id"])
    turns = await running.turns(chan)
    assert [(t.kind, t.content) for t in turns] == [
        ("roll", "Keri rolls Stealth\n1d20 (14) + 5 = `19`")
    ]
    assert "1d20 (14) + 5" in await _prompt(running, chan)


# ------------------------------------------------------------------ an NPC's marker, scripted


async def test_deleting_the_turn_that_changed_a_stat_restores_it(tmp_path: Path) -> None:
    engine = ScriptedEngine(
        texts=["Pell swings the oar. [Keri HP -4] Keri staggers back."], floors=["user"] * 4
    )
    async for fake in fake_discord():
        scripted = await start_bot(fake, e2e_settings(fake, tmp_path / "b.db"), engine=engine)
        try:
            await _marker_then_delete(scripted)
        finally:
            await stop_bot(scripted)


async def _marker_then_delete(running: Running) -> None:
    fake = running.fake
    chan = await _table(running, "dice-marker", "Pell", max_replies=1, mechanics="on")
    gm = {"user_id": fake.admin_id, "channel_id": chan}
    options = {"key": "HP", "value": "12/20", "character": "Keri"}
    await command(fake, "stat", "set", options=options, **gm)
    since = len(fake.messages)
    await player_says(running, chan, fake.player_ids[0], "Keri ducks under the oar.")
    (post,) = npc_posts(fake, chan, since)
    assert post["content"] == "Pell swings the oar. [Keri HP -4: 8/20] Keri staggers back."
    await settle(running, [post])
    assert "Keri: HP 8/20" in await _prompt(running, chan)

    turn = (await running.turns(chan))[-1]
    deleted = await click(fake, post["id"], f"tk:delete:{turn.id}", **gm)
    assert deleted["content"].startswith("Deleted")
    shown = await command(fake, "stat", "show", options={"character": "Keri"}, **gm)
    assert "HP 12/20" in shown["content"], shown["content"]
    assert "Keri: HP 12/20" in await _prompt(running, chan)
