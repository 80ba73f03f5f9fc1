"""End to end, a database that will not write: a SQLite file whose disk is full.

The real bot and discord.py against the fake Discord, on a real SQLite file that SQLite itself
declares full (`PRAGMA max_page_count` on the bot's connections); the scripted engine stands in
for the model, as this is about control flow.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bot.channel.health import BACK_NOTICE, DOWN_NOTICE
from cogs.webhooks import UNSAVED_MARK
from tests.channel.refusals import RefusedWrites
from tests.e2e import (
    REPLY_TIMEOUT,
    Npc,
    assert_no_pings_or_tracebacks,
    cast_scene,
    e2e_settings,
    fake_discord,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.scripted_engine import ScriptedEngine

# Under Discord's 2,000 characters, yet pages of data: stored as UTF-8, and escaped in the
# swipes' JSON, an anchor takes 9 bytes. A write that needs new pages is refused when full.
ANCHORS = "⚓" * 1800


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async for f in fake_discord():
        yield f


def _notices(fake: FakeDiscord, channel_id: int) -> list[str]:
    return [
        m["content"]
        for m in fake.messages
        if m["source"] == "rest" and int(m["channel_id"]) == channel_id
    ]


async def test_posts_made_while_the_disk_is_full_are_stored_and_answered_once_it_has_room(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    alice, bob = fake.player_ids
    engine = ScriptedEngine(texts=("Marta nods.", "Marta trims the wicks."))
    running = await start_bot(fake, e2e_settings(fake, db), engine=engine)
    gate = running.bot.tavern.deps.gate
    gate.interval = 0.05
    full = RefusedWrites(running.core.db, "full")
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        await player_says(running, chan, alice, "Evening, Marta.")
        with sqlite3.connect(db) as other:  # no free page to fall back on
            assert other.execute("PRAGMA freelist_count").fetchone()[0] <= 1

        full.on = True
        texts = [f"Who put out the lamps? {ANCHORS}", f"I light one again. {ANCHORS}"]
        during = [
            await player_says(running, chan, who, text)
            for who, text in zip((alice, bob), texts, strict=True)
        ]
        ids = [int(m["id"]) for m in during]
        assert fake.reactions == [(i, UNSAVED_MARK, fake.bot_user_id) for i in ids]
        assert _notices(fake, chan) == [f"*{DOWN_NOTICE}*"]
        assert [t.content for t in await running.turns(chan)][-1] == "Marta nods."

        full.on = False
        await asyncio.wait_for(gate.settled.wait(), REPLY_TIMEOUT)
        await running.idle()
        assert fake.reactions == []
        assert fake.removed_reactions == [(i, UNSAVED_MARK, fake.bot_user_id) for i in ids]
        turns = await running.turns(chan)
        assert [(t.content, t.deleted) for t in turns[-3:]] == [
            (texts[0], False),
            (texts[1], False),
            ("Marta trims the wicks.", False),
        ]
        assert [t.message_ids for t in turns[-3:-1]] == [[i] for i in ids]
        assert [p["content"] for p in npc_posts(fake, chan)][-2:] == [
            "Marta nods.",
            "Marta trims the wicks.",
        ]
        assert _notices(fake, chan) == [f"*{DOWN_NOTICE}*", f"*{BACK_NOTICE}*"]
        assert_no_pings_or_tracebacks(fake)
    finally:
        full.remove()
        await stop_bot(running)
