"""End to end, no silent loss: locked database, offline messages, kills and failed posts.

The real bot and discord.py against the fake Discord, on real SQLite files; the scripted engine
stands in for the model, as these tests are about control flow.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from cogs.webhooks import UNSAVED_MARK
from tests.e2e import (
    REPLY_TIMEOUT,
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    attachment_text,
    cast_scene,
    click,
    command,
    e2e_settings,
    fake_discord,
    npc_posts,
    settle,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.fake_discord.server import error as fake_error
from tests.scripted_engine import ScriptedEngine

EXECUTE = r"/webhooks/(\d+)/([^/]+)"
MESSAGE = r"/webhooks/(\d+)/([^/]+)/messages/(\d+)"
ASK = "Marta, who put out the harbor lamps?"
FOG = " ".join(["The fog rolls over the harbor wall and hides the lamps."] * 60)  # 2 parts


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async for f in fake_discord():
        yield f


def _engine(*texts: str) -> ScriptedEngine:
    return ScriptedEngine(texts=texts)


async def _start(fake: FakeDiscord, db: Path, *texts: str, **settings: Any) -> Running:
    return await start_bot(fake, e2e_settings(fake, db, **settings), engine=_engine(*texts))


def _channel_hook(fake: FakeDiscord, request: web.Request) -> bool:
    """Whether a /webhooks/… request is for a channel webhook (not an interaction's)."""
    return int(request.match_info["tail"].split("/")[1]) in fake.webhooks


class Tap:
    """Refuses (403), or holds then refuses, channel-webhook requests on a route after `skip`."""

    def __init__(self, fake: FakeDiscord, method: str, path: str, *, skip: int = 0) -> None:
        self.skip, self.seen = skip, 0
        self.refusing = self.holding = False
        self.held, self.release = asyncio.Event(), asyncio.Event()

        async def tap(request: web.Request) -> web.StreamResponse | None:
            if not _channel_hook(fake, request):
                return None
            self.seen += 1
            if self.seen <= self.skip:
                return None
            if self.holding:  # until released; then it never lands, like a post cut by a kill
                self.held.set()
                await self.release.wait()
            if self.refusing or self.holding:
                return fake_error(403, "Missing Permissions", 50013)
            return None

        fake.intercept(method, path, tap)


@contextmanager
def write_locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holds the SQLite file's write lock until the block ends (or rollback)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


class Signal(logging.Handler):
    """Sets `seen` when a log line containing `needle` is emitted."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.seen.set()


async def _contents(running: Running, channel_id: int) -> list[tuple[str, str, bool]]:
    return [(t.role, t.content, t.deleted) for t in await running.turns(channel_id)]


async def _prompt_text(fake: FakeDiscord, channel_id: int) -> str:
    answer = await command(fake, "scene", "prompt", user_id=fake.admin_id, channel_id=channel_id)
    return attachment_text(answer)[1]


async def test_a_message_the_locked_database_refuses_is_marked(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, alice = tmp_path / "bot.db", fake.player_ids[0]
    running = await _start(fake, db, "Marta nods.", db_busy_timeout=0.2)
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        running.bot.tavern.play.retry_delays = (0.05, 0.05)
        with write_locked(db), caplog.at_level(logging.WARNING, logger="bot.channel.intake"):
            message = await fake.user_message(chan, alice, ASK)
            await running.probe.handled("message", message["id"])
        await running.idle()

        assert fake.reactions == [(int(message["id"]), UNSAVED_MARK, fake.bot_user_id)]
        assert await _contents(running, chan) == []
        assert npc_posts(fake, chan) == []  # nothing answers a message that was not kept
        [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert f"could not store message {message['id']}" in line
        assert "database is locked" in line
        assert_no_pings_or_tracebacks(fake)
    finally:
        await stop_bot(running)


async def test_a_message_posted_while_locked_is_stored_once_the_lock_clears(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    db, alice = tmp_path / "bot.db", fake.player_ids[0]
    running = await _start(fake, db, "Marta nods.", db_busy_timeout=0.2)
    retrying = Signal("retrying")
    logging.getLogger("bot.channel.intake").addHandler(retrying)
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        with write_locked(db) as other_writer:
            message = await fake.user_message(chan, alice, ASK)
            await asyncio.wait_for(retrying.seen.wait(), REPLY_TIMEOUT)  # a try has failed
            other_writer.execute("ROLLBACK")
        await running.probe.handled("message", message["id"])
        await running.idle()

        assert fake.reactions == []
        assert await _contents(running, chan) == [
            ("user", ASK, False),
            ("model", "Marta nods.", False),
        ]
        assert [p["content"] for p in npc_posts(fake, chan)] == ["Marta nods."]
    finally:
        logging.getLogger("bot.channel.intake").removeHandler(retrying)
        await stop_bot(running)


async def test_messages_posted_while_the_bot_was_stopped_are_read_back_and_answered_once(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    db, (alice, bob) = tmp_path / "bot.db", fake.player_ids
    running = await _start(fake, db, "Marta nods.")
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        hello = await fake.user_message(chan, alice, "Evening, Marta.")
        await running.probe.handled("message", hello["id"])
        await running.idle()
        await settle(running, npc_posts(fake, chan))
    finally:
        await stop_bot(running)

    offline = [
        await fake.user_message(chan, alice, "Is anyone minding the lamps?"),
        await fake.user_message(chan, bob, "(( back in five ))"),
        await fake.user_message(chan, bob, "I knock on the harbor office door."),
    ]
    await fake.user_message(fake.other_channel_id, alice, "Not a scene channel.")
    since = len(fake.messages)
    running = await _start(fake, db, "Marta opens the door.")
    try:
        await asyncio.wait_for(running.bot.tavern.recovery.caught_up.wait(), REPLY_TIMEOUT)
        await running.idle()
        turns = await running.turns(chan)
        assert [(t.role, t.content) for t in turns] == [
            ("user", "Evening, Marta."),
            ("model", "Marta nods."),
            ("user", "Is anyone minding the lamps?"),
            ("user", "(( back in five ))"),
            ("user", "I knock on the harbor office door."),
            ("model", "Marta opens the door."),
        ]
        assert [t.message_ids[0] for t in turns[2:5]] == [int(m["id"]) for m in offline]
        assert [p["content"] for p in npc_posts(fake, chan, since)] == ["Marta opens the door."]
        assert running.bot.tavern.sessions.rounds_started == 1
        assert_no_pings_or_tracebacks(fake)
    finally:
        await stop_bot(running)


async def test_messages_missed_during_a_gateway_outage_are_read_back_on_resume(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    running = await _start(fake, tmp_path / "bot.db", "Marta looks up.")
    recovery = running.bot.tavern.recovery
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        await asyncio.wait_for(recovery.caught_up.wait(), REPLY_TIMEOUT)
        fake.gateway_down = True  # the bot never hears of this message
        missed = await fake.user_message(chan, fake.player_ids[0], ASK)
        fake.gateway_down = False
        recovery.caught_up.clear()
        await fake.drop_gateway()
        await asyncio.wait_for(recovery.caught_up.wait(), REPLY_TIMEOUT)
        await running.idle()

        assert fake.resumes == 1
        turns = await running.turns(chan)
        assert [(t.role, t.content) for t in turns] == [("user", ASK), ("model", "Marta looks up.")]
        assert turns[0].message_ids == [int(missed["id"])]
    finally:
        await stop_bot(running)


async def test_a_bot_killed_between_storing_and_posting_leaves_no_unseen_turn(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """Killed after the first of two parts: the next start takes that part down too."""
    db = tmp_path / "bot.db"
    running = await _start(fake, db, FOG)
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        second_part = Tap(fake, "POST", EXECUTE, skip=1)
        second_part.holding = True
        await fake.user_message(chan, fake.player_ids[0], ASK)
        await asyncio.wait_for(second_part.held.wait(), REPLY_TIMEOUT)

        # Stored and half posted: the prompt the model would read next does not have it.
        text = await _prompt_text(fake, chan)
        assert ASK in text and "The fog rolls" not in text
        [first_part] = npc_posts(fake, chan)
        # A kill runs no clean-up: refuse the deletes a graceful stop would make.
        Tap(fake, "DELETE", MESSAGE).refusing = True
    finally:
        await stop_bot(running)
        second_part.release.set()
    assert not fake.message(int(first_part["id"]))["deleted"]  # left in the channel
    fake.stop_intercepting()

    since = len(fake.messages)
    running = await _start(fake, db)
    try:
        await asyncio.wait_for(running.bot.tavern.recovery.caught_up.wait(), REPLY_TIMEOUT)
        await running.idle()
        assert fake.message(int(first_part["id"]))["deleted"]  # the orphan part is gone
        [(_, _, asked_gone), (role, content, gone)] = await _contents(running, chan)
        assert (role, content, gone, asked_gone) == ("model", FOG, True, False)
        assert await running.core.stores.turns.pending() == []
        assert "The fog rolls" not in await _prompt_text(fake, chan)
        assert npc_posts(fake, chan, since) == []  # nothing new to answer
    finally:
        await stop_bot(running)


async def test_a_post_failing_half_way_leaves_no_orphan_parts(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    running = await _start(fake, tmp_path / "bot.db", FOG)
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        Tap(fake, "POST", EXECUTE, skip=1).refusing = True  # the second part is refused
        message = await fake.user_message(chan, fake.player_ids[0], ASK)
        await running.probe.handled("message", message["id"])
        await running.idle()

        [first_part] = npc_posts(fake, chan)
        assert fake.message(int(first_part["id"]))["deleted"]
        assert await _contents(running, chan) == [("user", ASK, False), ("model", FOG, True)]
        notices = [m["content"] for m in fake.messages if m["source"] == "rest"]
        assert notices[-1] == "*The NPCs could not answer; the log has details.*"
        assert "The fog rolls" not in await _prompt_text(fake, chan)
    finally:
        await stop_bot(running)


async def test_a_swipe_whose_edit_fails_keeps_database_and_channel_in_step(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.player_ids[0]
    texts = ("Marta nods.", "Marta frowns.", "Marta sighs.")
    running = await _start(fake, tmp_path / "bot.db", *texts)
    try:
        chan = await cast_scene(running, "harbor", (Npc("Marta"),), max_replies=1)
        message = await fake.user_message(chan, alice, ASK)
        await running.probe.handled("message", message["id"])
        await running.idle()
        [post] = npc_posts(fake, chan)
        await settle(running, [post])
        [_, turn] = await running.turns(chan)

        edits = Tap(fake, "PATCH", MESSAGE)
        edits.refusing = True
        custom_id = f"tk:swipe:{turn.id}"
        answer = await click(fake, post["id"], custom_id, user_id=alice, channel_id=chan)
        assert "keeps its old one" in answer["content"]
        kept = await running.core.stores.turns.get(turn.id)
        shown = fake.message(int(post["id"]))["content"]
        assert (kept.content, kept.swipes, shown) == ("Marta nods.", ["Marta nods."], shown)
        assert shown == "Marta nods."

        edits.refusing = False
        answer = await click(fake, post["id"], custom_id, user_id=alice, channel_id=chan)
        assert "Swiped" in answer["content"]
        swiped = await running.core.stores.turns.get(turn.id)
        assert swiped.content == fake.message(int(post["id"]))["content"] == "Marta sighs."
    finally:
        await stop_bot(running)
