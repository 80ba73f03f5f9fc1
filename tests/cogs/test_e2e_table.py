"""End to end through the real discord.py client: reply mode `table` with three players, the
round timeout, a Discord reply to an NPC's message, a reply between players, a round the model
passed in /scene status, and /scene settings round_timeout.

Control flow runs on the scripted engine (its floor choice before a round: "model" lets an NPC
answer, "user" passes); one test runs the table on the demo model, where the model may answer or
pass but the round must wait for everyone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import (
    Json,
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    cast_scene,
    command,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.scripted_engine import ScriptedEngine

CAROL = 700000000000000099
SHEET = "**Age**: 30 **Biography**: A traveller."


def _with_carol(fake: FakeDiscord) -> None:
    fake.add_member(CAROL, "carol")


async def _bot(tmp_path: Path, engine: ScriptedEngine | None) -> AsyncIterator[Running]:
    async for fake in fake_discord(_with_carol):
        settings = e2e_settings(fake, tmp_path / "b.db", max_new_tokens=24)
        running = await start_bot(fake, settings, engine=engine)
        try:
            yield running
        finally:
            await stop_bot(running)


async def _as(running: Running, user: int, chan: int, group: str, sub: str, **options: Any) -> Json:
    return await command(
        running.fake, group, sub, user_id=user, channel_id=chan, options=options or None
    )


async def _table(running: Running, name: str, *npcs: str, mode: str = "table") -> int:
    """A channel where the GM cast `npcs` in `mode`, and Alice, Bob, Carol play Ayla, Brann,
    Cora."""
    fake = running.fake
    chan = await cast_scene(
        running, name, tuple(Npc(n) for n in npcs), reply_mode=mode, max_replies=1
    )
    players = ((fake.player_ids[0], "Ayla"), (fake.player_ids[1], "Brann"), (CAROL, "Cora"))
    for user, character in players:
        made = await _as(running, user, chan, "character", "create", name=character, sheet=SHEET)
        assert character in made["content"], made["content"]
        used = await _as(running, user, chan, "character", "use", name=character)
        assert character in used["content"], used["content"]
    return chan


async def _status(running: Running, chan: int) -> str:
    return str((await _as(running, running.fake.admin_id, chan, "scene", "status"))["content"])


def _rounds(running: Running) -> int:
    return running.bot.tavern.sessions.rounds_started


async def test_a_table_round_waits_for_three_players_then_the_timeout(tmp_path: Path) -> None:
    engine = ScriptedEngine(floors=["model"] * 10, texts=[f"Marta {i}." for i in range(10)])
    async for running in _bot(tmp_path, engine):
        await _three_players_then_the_timeout(running)


async def _three_players_then_the_timeout(running: Running) -> None:
    fake = running.fake
    alice, bob = fake.player_ids
    chan = await _table(running, "table", "Marta")
    since, started = len(fake.messages), _rounds(running)
    await player_says(running, chan, alice, "Ayla sits by the fire.")
    await player_says(running, chan, bob, "Brann orders an ale.")
    assert npc_posts(fake, chan, since) == [] and _rounds(running) == started
    assert "**Table** waiting for Cora" in await _status(running, chan)

    await player_says(running, chan, CAROL, "Cora watches the door.")
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Marta"]
    assert "waiting for Ayla, Brann, Cora" in await _status(running, chan)

    # Bob and Carol are away: the round timeout answers Alice (made short for the test).
    running.bot.tavern.play.table.default_timeout = 0.05
    since = len(fake.messages)
    await player_says(running, chan, alice, "Ayla taps the table.")
    answer = await fake.wait_for_message(
        lambda m: m["source"] == "webhook" and int(m["channel_id"]) == chan,
        timeout=30,
        since=since,
    )
    assert answer["username"] == "Marta"
    await running.idle()
    assert_no_pings_or_tracebacks(fake)


async def test_replies_address_npcs_and_players_and_a_pass_shows(tmp_path: Path) -> None:
    # A round that may pass, passes.
    async for running in _bot(tmp_path, ScriptedEngine(floors=["user"] * 4)):
        await _replies(running)


async def _replies(running: Running) -> None:
    fake = running.fake
    alice, bob = fake.player_ids
    chan = await _table(running, "replies", "Marta", "Tobin", mode="auto")
    asked = await command(fake, "reply", user_id=alice, channel_id=chan, options={"as": "Tobin"})
    assert "Tobin" in asked["content"]
    await running.idle()
    tobins = npc_posts(fake, chan)[-1]
    assert tobins["username"] == "Tobin"

    since = len(fake.messages)
    alices = await player_says(running, chan, alice, "And then?", reply_to=int(tobins["id"]))
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Tobin"]

    started = _rounds(running)
    await player_says(running, chan, bob, "Let's not.", reply_to=int(alices["id"]))
    assert _rounds(running) == started  # the players talk among themselves

    since = len(fake.messages)
    await player_says(running, chan, bob, "The fire crackles.")
    assert _rounds(running) == started + 1 and npc_posts(fake, chan, since) == []
    passed = re.search(r"\*\*Last round\*\* (.*)", await _status(running, chan))
    assert passed is not None, "the status says nothing of the pass"
    assert passed.group(1).startswith(
        "the NPCs let the players talk (the model passed) after Brann's post, at "
    )

    await player_says(running, chan, alice, "Tobin? Marta? Who saw the thief?")
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Tobin", "Marta"]
    assert "Last round" not in await _status(running, chan)
    assert_no_pings_or_tracebacks(fake)


async def test_scene_settings_round_timeout(tmp_path: Path) -> None:
    async for running in _bot(tmp_path, ScriptedEngine()):
        fake, gm = running.fake, running.fake.admin_id
        chan = await cast_scene(running, "timeout", (Npc("Marta"),))
        for bad in (9, 86_401):
            refused = await _as(running, gm, chan, "scene", "settings", round_timeout=bad)
            assert is_ephemeral(refused) and "\n" not in refused["content"]
            assert refused["content"].startswith("round_timeout must be between 10 and 86400")
        changed = await _as(
            running, gm, chan, "scene", "settings", round_timeout=120, reply_mode="table"
        )
        assert is_ephemeral(changed)
        assert "Reply mode table · round timeout 2 min" in changed["content"]
        assert "**round timeout** 2 min" in await _status(running, chan)
        assert_no_pings_or_tracebacks(fake)


@pytest.mark.model
async def test_a_table_round_on_the_demo_model_waits_for_everyone(tmp_path: Path) -> None:
    async for running in _bot(tmp_path, None):
        fake = running.fake
        alice, bob = fake.player_ids
        chan = await _table(running, "model-table", "Marta")
        since, started = len(fake.messages), _rounds(running)
        await player_says(running, chan, alice, "Ayla sits by the fire.")
        await player_says(running, chan, bob, "Brann orders an ale.")
        assert npc_posts(fake, chan, since) == [] and _rounds(running) == started

        await player_says(running, chan, CAROL, "Cora asks the innkeeper for a room.")
        assert _rounds(running) == started + 1
        # The model answered, or chose to let the players talk, and the status says which.
        if not npc_posts(fake, chan, since):
            assert "the model passed" in await _status(running, chan)
        await asyncio.wait_for(running.idle(), 120)
        assert_no_pings_or_tracebacks(fake)
