"""End to end: DEBUG logs hold no webhook or bot token; buttons act only in their own channel."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import configure_logging
from tests.e2e import (
    Mark,
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    cast_scene,
    click,
    custom_ids,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    player_says,
    settle,
    start_bot,
    stop_bot,
)

pytestmark = pytest.mark.model

BOT_TOKEN = "fake-token"  # what `start_bot` logs in with


class RawRecords(logging.Handler):
    """Every record as the logging calls made it, formatted before any filter rewrites it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.asynccontextmanager
async def debug_bot(tmp_path: Path, raw: RawRecords) -> AsyncIterator[Running]:
    """A bot started the way `tavernkeep run` starts it, logging at DEBUG from its settings.

    Run it inside the test itself: pytest gives every test phase new capture handlers, and the
    logging set-up filters the root handlers present when it runs. `raw` goes first among the
    root handlers, unfiltered: the filter rewrites a record in place for the handlers after it.
    """
    root = logging.getLogger()
    async for fake in fake_discord():
        settings = e2e_settings(fake, tmp_path / "bot.db", log_level="DEBUG")
        assert settings.secrets() == [BOT_TOKEN]
        installed = configure_logging(settings.log_level, settings.secrets())
        root.handlers.insert(0, raw)
        try:
            bot = await start_bot(fake, settings)
            try:
                yield bot
            finally:
                await stop_bot(bot)
        finally:
            root.removeHandler(raw)
            for handler in root.handlers:
                handler.removeFilter(installed)


async def _npc_answered(running: Running, name: str) -> tuple[int, dict[str, Any], int]:
    """A scene where the GM created and cast an NPC, a player spoke and the NPC answered."""
    fake = running.fake
    chan = await cast_scene(running, name, (Npc("Wren"),), max_replies=1)
    since = len(fake.messages)
    await player_says(running, chan, fake.player_ids[0], "Wren, why are the lamps out?")
    posts = npc_posts(fake, chan, since)
    assert [p["username"] for p in posts] == ["Wren"], "the NPC did not answer"
    await settle(running, posts)
    message = posts[-1]
    turn_id = int(custom_ids(fake.message(int(message["id"])))[0].rsplit(":", 1)[1])
    return chan, message, turn_id


async def test_debug_logs_hold_no_webhook_or_bot_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: discord's loggers included
    raw_logs = RawRecords()
    async with debug_bot(tmp_path, raw_logs) as running:
        fake = running.fake
        chan, message, turn_id = await _npc_answered(running, "debug-logs")
        alice = fake.player_ids[0]
        swiped = await click(
            fake, message["id"], f"tk:swipe:{turn_id}", user_id=alice, channel_id=chan
        )
        assert "Swiped" in swiped["content"]
        # No library here logs the bot token; one that did (or a traceback holding it) goes
        # through the same handlers as this record.
        logging.getLogger("discord.http").debug("Authorization: Bot %s", BOT_TOKEN)

    hook_tokens = [hook["token"] for hook in fake.webhooks.values()]
    interaction_tokens = [handle.token for handle in fake.interactions.values()]
    assert hook_tokens and interaction_tokens
    raw = "\n".join(raw_logs.lines)
    # The test can fail: discord.py really logs webhook URLs and payloads with their tokens.
    assert f"/webhooks/{next(iter(fake.webhooks))}/{hook_tokens[0]}" in raw
    assert all(token in raw for token in [*hook_tokens, *interaction_tokens, BOT_TOKEN])

    captured = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("discord.") and r.levelno == logging.DEBUG for r in caplog.records)
    assert "/webhooks/" in captured and "[redacted]" in captured
    for token in [*hook_tokens, *interaction_tokens, BOT_TOKEN]:
        assert token not in captured, token


async def test_a_button_pressed_in_another_channel_changes_nothing(tmp_path: Path) -> None:
    async for fake in fake_discord():
        running = await start_bot(fake, e2e_settings(fake, tmp_path / "bot.db"))
        try:
            await _pressed_elsewhere(running)
        finally:
            await stop_bot(running)


async def _pressed_elsewhere(running: Running) -> None:
    fake, alice, gm = running.fake, running.fake.player_ids[0], running.fake.admin_id
    chan, message, turn_id = await _npc_answered(running, "own-channel")
    before = await running.core.stores.turns.get(turn_id)
    elsewhere = fake.other_channel_id  # e.g. a replayed custom id or a crafted interaction
    mark = Mark.now(fake)

    for action, user in (("swipe", alice), ("continue", alice), ("delete", gm)):
        answered = await click(
            fake, message["id"], f"tk:{action}:{turn_id}", user_id=user, channel_id=elsewhere
        )
        assert is_ephemeral(answered)
        assert answered["content"] == "That button belongs to another channel."

    after = await running.core.stores.turns.get(turn_id)
    assert (after.content, after.swipes, after.deleted) == (before.content, before.swipes, False)
    current = fake.message(int(message["id"]))
    assert current["content"] == message["content"] and not current["deleted"]
    assert fake.webhook_executions[mark.webhook_executions :] == []
    assert npc_posts(fake, chan, mark.messages) == []
    assert_no_pings_or_tracebacks(fake, mark)
