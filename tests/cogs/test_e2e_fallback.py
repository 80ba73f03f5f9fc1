"""End to end: without Manage Webhooks, NPC turns are posted by the bot as `**Name**: text`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e import (
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    cast_scene,
    click,
    custom_ids,
    e2e_settings,
    fake_discord,
    forbid_webhooks,
    open_scene,
    player_says,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord

pytestmark = pytest.mark.model

GREETING = "*Nessa wipes the bar.* What'll it be, stranger?"
CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Nessa",
        "description": "The innkeeper of the Drowned Lantern. Hears everything.",
        "personality": "warm, nosy",
        "first_mes": GREETING,
    },
}


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async for fake in fake_discord(forbid_webhooks):
        bot = await start_bot(fake, e2e_settings(fake, tmp_path / "bot.db"))
        try:
            yield bot
        finally:
            await stop_bot(bot)


def bot_posts(fake: FakeDiscord, channel_id: int, since: int = 0) -> list[dict[str, Any]]:
    """Messages the bot itself posted into the channel (not interaction answers)."""
    return [
        m
        for m in fake.messages[since:]
        if m["source"] == "rest" and int(m["channel_id"]) == channel_id
    ]


async def test_npc_turns_fall_back_to_bot_messages(running: Running) -> None:
    fake, bob = running.fake, running.fake.player_ids[1]
    nessa = Npc("Nessa", card=CARD, card_format="json")
    cast = await open_scene(running, "inn", (nessa,), max_replies=1)
    chan = cast.channel_id
    assert "Created NPC **Nessa** (from its card)" in cast.made[0]["content"]
    [greeting] = bot_posts(fake, chan)
    assert greeting["content"] == f"**Nessa**: {GREETING}"
    assert greeting["author"]["id"] == str(fake.bot_user_id)

    await player_says(running, chan, bob, "Nessa, a mug of cider please.")
    posts = bot_posts(fake, chan)
    assert len(posts) >= 2, "Nessa did not answer"
    turns = await running.turns(chan)
    npc_turns = [t for t in turns if t.role == "model"]
    assert [t.message_ids for t in npc_turns] == [[int(p["id"])] for p in posts]
    assert [p["content"] for p in posts] == [f"**Nessa**: {t.content}" for t in npc_turns]
    assert fake.webhooks == {} and fake.webhook_executions == []

    # The bot's own messages start no rounds: a later out-of-character message is handled
    # after them, and by then nothing new has run.
    rounds = running.bot.tavern.sessions.rounds_started
    await player_says(running, chan, bob, "(( brb ))")
    assert running.bot.tavern.sessions.rounds_started == rounds
    assert len(bot_posts(fake, chan)) == len(posts)

    # The buttons work on the bot's own message too: Swipe edits it in place.
    last, turn = posts[-1], npc_turns[-1]
    assert custom_ids(fake.message(int(last["id"])))[0] == f"tk:swipe:{turn.id}"
    swiped = await click(fake, last["id"], f"tk:swipe:{turn.id}", user_id=bob, channel_id=chan)
    assert "Swiped" in swiped["content"]
    turn = await running.core.stores.turns.get(turn.id)
    assert len(turn.swipes) == 2
    assert fake.message(int(last["id"]))["content"] == f"**Nessa**: {turn.content}"
    assert_no_pings_or_tracebacks(fake)


async def test_long_fallback_turns_stay_within_discord_limits(running: Running) -> None:
    fake = running.fake
    # One endless run-on sentence: the cuts land on spaces close to the 2,000 limit.
    greeting = " ".join(["and the rain drums on the shutters"] * 120)
    card = {"spec": "chara_card_v2", "spec_version": "2.0"}
    card["data"] = {**CARD["data"], "first_mes": greeting}
    chan = await cast_scene(running, "rainy-inn", (Npc("Nessa", card=card, card_format="json"),))

    posts = bot_posts(fake, chan)
    assert len(posts) >= 2
    assert all(len(p["content"]) <= 2000 for p in posts), [len(p["content"]) for p in posts]
    assert all(p["content"].startswith("**Nessa**: ") for p in posts)
    words = " ".join(p["content"].removeprefix("**Nessa**: ") for p in posts).split()
    assert words == greeting.split()
    assert_no_pings_or_tracebacks(fake)
