"""Player messages the database refuses: retried, kept in order, and marked when they fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.channel.ports import IncomingMessage
from bot.store import Database, Turn
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    Tavern,
    WatchedLock,
    build,
    first_of,
    marta_scene,
    within_guard,
)

LOCKED = OperationalError("INSERT INTO turns …", {}, Exception("database is locked"))


def _message(mid: int, text: str) -> IncomingMessage:
    return IncomingMessage(mid, CHANNEL, GUILD, ALICE, "Alice", text)


async def _scene(tavern: Tavern) -> int:
    """Marta's scene, with retries that do not wait."""
    scene_id = await marta_scene(tavern)
    tavern.services.play.retry_delays = (0.0, 0.0)
    return scene_id


def _failing_appends(
    tavern: Tavern, failures: int, before_retry: Callable[[], Awaitable[None]] | None = None
) -> list[str]:
    """Make the first `failures` player appends raise "database is locked"; what was tried."""
    turns = tavern.stores.turns
    original = turns.append
    tried: list[str] = []

    async def append(scene_id: int, **fields: Any) -> Turn:
        if fields["role"] != "user":  # the NPCs' turns are stored as usual
            return await original(scene_id, **fields)
        retry = fields["content"] in tried
        tried.append(fields["content"])
        if len(tried) <= failures:
            raise LOCKED
        if retry and before_retry is not None:
            await before_retry()
        return await original(scene_id, **fields)

    turns.append = append  # type: ignore[method-assign]
    return tried


async def _contents(tavern: Tavern, scene_id: int, role: str | None = None) -> list[str]:
    """The scene's turns (only `role`'s, if given), oldest first."""
    turns = await tavern.stores.turns.window(scene_id, 20)
    return [t.content for t in turns if role is None or t.role == role]


async def test_a_message_is_stored_once_the_database_answers_again(db: Database) -> None:
    tavern = build(db)
    scene_id = await _scene(tavern)
    tried = _failing_appends(tavern, failures=2)
    await tavern.services.play.on_message(_message(1, "Hello Marta."))
    await within_guard(tavern.services.sessions.wait_idle())

    assert tried == ["Hello Marta."] * 3
    assert await _contents(tavern, scene_id) == ["Hello Marta.", "Reply 0."]
    assert tavern.poster.unsaved == []


async def test_a_message_that_cannot_be_stored_is_marked_and_logged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    tavern = build(db)
    scene_id = await _scene(tavern)
    tried = _failing_appends(tavern, failures=99)
    with caplog.at_level(logging.WARNING, logger="bot.channel.intake"):
        await tavern.services.play.on_message(_message(7, "Hello Marta."))
    await within_guard(tavern.services.sessions.wait_idle())

    assert len(tried) == 3  # the first try and one per retry delay
    assert tavern.poster.unsaved == [7]
    assert tavern.services.sessions.rounds_started == 0  # no answer to a message not kept
    assert await _contents(tavern, scene_id) == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "could not store message 7" in errors[0].getMessage()
    assert "database is locked" in errors[0].getMessage()
    assert "INSERT" not in errors[0].getMessage()  # the reason, not the SQL


async def test_a_message_waiting_out_a_lock_keeps_its_place(db: Database) -> None:
    """A second message arriving while the first retries is stored after it, not before."""
    tavern = build(db)
    scene_id = await _scene(tavern)
    tavern.services.play.retry_delays = (0.01,)
    intake = WatchedLock()
    tavern.services.sessions.get(CHANNEL).intake = intake
    second: asyncio.Task[None] | None = None

    async def until_the_second_waits_or_is_stored() -> None:
        assert second is not None
        await first_of(intake.someone_waits.wait(), asyncio.shield(second))

    _failing_appends(tavern, failures=1, before_retry=until_the_second_waits_or_is_stored)
    first = asyncio.create_task(tavern.services.play.on_message(_message(1, "First.")))
    # The first holds the intake (its scene looked up, its store failing) before the second
    # arrives: that is the case here, not which of two lookups the database answers first.
    await first_of(intake.taken.wait(), asyncio.shield(first))
    second = asyncio.create_task(tavern.services.play.on_message(_message(2, "Second.")))
    await within_guard(asyncio.gather(first, second))
    await within_guard(tavern.services.sessions.wait_idle())

    # Where the round the first asked for lands among them is the scheduler's choice.
    assert await _contents(tavern, scene_id, role="user") == ["First.", "Second."]
