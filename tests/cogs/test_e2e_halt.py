"""End to end: `/scene end`, the clear button and Delete stop a running round before they act."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e import (
    MODEL_TIMEOUT,
    Npc,
    Running,
    answer_of,
    assert_no_pings_or_tracebacks,
    cast_scene,
    custom_ids,
    e2e_settings,
    fake_discord,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)

pytestmark = pytest.mark.model

CAST = (Npc("Marta"), Npc("Old Tobin"), Npc("Ilse"))


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async for fake in fake_discord():
        # Long turns, so a round is still generating when the GM acts.
        settings = e2e_settings(fake, tmp_path / "bot.db", max_new_tokens=160)
        bot = await start_bot(fake, settings)
        try:
            yield bot
        finally:
            await stop_bot(bot)


async def _round_is_generating(running: Running, channel_id: int) -> None:
    """A player posts and returns once the round has started typing in the channel."""
    fake = running.fake
    typing_before = fake.typing_events.count(channel_id)
    alice = fake.player_ids[0]
    await fake.user_message(channel_id, alice, "Marta, Tobin, Ilse: who rang the bell?")
    async with asyncio.timeout(MODEL_TIMEOUT):
        while fake.typing_events.count(channel_id) == typing_before:
            await asyncio.sleep(0.005)
    assert running.bot.tavern.sessions.busy(channel_id)


async def _stored_model_turns_were_all_posted(running: Running, channel_id: int) -> None:
    posted = {int(m["id"]) for m in npc_posts(running.fake, channel_id)}
    for turn in await running.turns(channel_id, include_deleted=False):
        if turn.role == "model":
            assert turn.message_ids and set(turn.message_ids) <= posted, turn


async def test_scene_end_during_a_three_npc_round(running: Running) -> None:
    fake, gm = running.fake, running.fake.admin_id
    chan = await cast_scene(running, "bell-tower", CAST, max_replies=3)
    await _round_is_generating(running, chan)

    handle = await fake.slash("scene", subcommand="end", user_id=gm, channel_id=chan)
    ack = await handle.response()
    assert ack["type"] == 5  # acknowledged before waiting for the round
    ack_index = next(
        i for i, m in enumerate(fake.messages) if int(m["id"]) == handle.original_message_id
    )
    ended = await answer_of(fake, handle, MODEL_TIMEOUT)
    assert "Scene ended" in ended["content"] and not ended["flags"] & 64
    await running.idle()

    # Nothing an NPC said reached the channel after the GM's command was acknowledged.
    for index, message in enumerate(fake.messages):
        if message["source"] == "webhook" and int(message["channel_id"]) == chan:
            assert index < ack_index, message["content"]
    await _stored_model_turns_were_all_posted(running, chan)
    assert await running.core.stores.scenes.by_channel(chan) is None

    # The engine is free and sound: the next scene plays.
    next_chan = await cast_scene(running, "harbor", (Npc("Brannoc"),), max_replies=1)
    since = len(fake.messages)
    await player_says(running, next_chan, fake.player_ids[1], "Brannoc, what news?")
    assert [p["username"] for p in npc_posts(fake, next_chan, since)] == ["Brannoc"]
    assert_no_pings_or_tracebacks(fake)


async def test_clear_during_a_round_stops_it_and_wipes_everything(running: Running) -> None:
    fake, gm = running.fake, running.fake.admin_id
    chan = await cast_scene(running, "cellar", (Npc("Wenna"), Npc("Hob")), max_replies=2)
    asked = await fake.slash("scene", subcommand="clear", user_id=gm, channel_id=chan)
    await asked.response()
    confirm = fake.message(asked.original_message_id or 0)
    [clear_id] = custom_ids(confirm)
    await _round_is_generating(running, chan)

    pressed = await fake.click(int(confirm["id"]), clear_id, user_id=gm, channel_id=chan)
    assert (await pressed.response())["type"] == 6  # acknowledged at once, no message yet
    cleared = await answer_of(fake, pressed, MODEL_TIMEOUT)
    assert cleared["content"].startswith("Cleared") and not cleared["flags"] & 64
    await running.idle()
    assert await running.turns(chan, include_deleted=False) == []
    assert_no_pings_or_tracebacks(fake)
