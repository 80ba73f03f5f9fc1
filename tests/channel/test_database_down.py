"""A database that will not write: posts kept and marked, rounds waiting with one notice, and
everything put right by itself once the database takes writes again.

The refusals are the databases' own (tests/channel/refusals.py), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from bot.channel.health import BACK_NOTICE, DOWN_NOTICE
from bot.channel.ports import IncomingMessage, PartSent
from bot.channel.recovery import snowflake_at
from bot.channel.sessions import Trigger
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    RecordingPoster,
    Tavern,
    build,
    marta_scene,
    within_guard,
)
from tests.channel.refusals import Refusal, RefusedWrites

SECOND_ID = 1 << 22  # one millisecond apart in Discord ids
# Longer than a page: a post that needs new pages, so a full SQLite file refuses it too.
LONG = " The lamps are out all along the harbor wall." * 120


def _ids(count: int) -> list[int]:
    """Discord ids of posts made from now on, oldest first."""
    base = snowflake_at(datetime.now(UTC) + timedelta(seconds=1))
    return [base + i * SECOND_ID for i in range(count)]


def _message(mid: int, text: str, author: int = ALICE) -> IncomingMessage:
    return IncomingMessage(mid, CHANNEL, GUILD, author, {ALICE: "Alice", BOB: "Bob"}[author], text)


@pytest_asyncio.fixture
async def refusal(db: Database) -> AsyncIterator[RefusedWrites]:
    refused = RefusedWrites(db)
    try:
        yield refused
    finally:
        refused.remove()


async def _tavern(db: Database, poster: RecordingPoster | None = None) -> tuple[Tavern, int]:
    """Marta's scene, retries that do not wait, a probe every few milliseconds."""
    tavern = build(db, poster=poster)
    scene_id = await marta_scene(tavern)
    tavern.services.play.retry_delays = (0.0, 0.0)
    tavern.services.deps.gate.interval = 0.005
    return tavern, scene_id


async def _say(tavern: Tavern, message: IncomingMessage) -> None:
    """A post arrives (and the channel's history has it, for a read-back)."""
    tavern.poster.channel_history.setdefault(CHANNEL, []).append(message)
    await tavern.services.play.on_message(message)
    await within_guard(tavern.services.sessions.wait_idle())


async def _back(tavern: Tavern, refusal: RefusedWrites) -> None:
    """The database takes writes again; wait until the gate has put everything right."""
    refusal.on = False
    await within_guard(tavern.services.deps.gate.settled.wait())
    await within_guard(tavern.services.sessions.wait_idle())


async def _history(tavern: Tavern, scene_id: int) -> list[str]:
    return [t.content for t in await tavern.stores.turns.window(scene_id, 50)]


@pytest.mark.parametrize("kind", ["read-only", "full"])
async def test_posts_refused_are_marked_then_stored_in_order_once_writes_go_through(
    db: Database, backend: str, kind: Refusal
) -> None:
    if kind == "full" and backend != "sqlite":
        pytest.skip("a full disk is made with SQLite's max_page_count")
    refusal = RefusedWrites(db, kind)
    try:
        tavern, scene_id = await _tavern(db)
        evening, *during = _ids(4)
        await _say(tavern, _message(evening, "Evening, Marta."))
        refusal.on = True
        texts = [f"Who put out the lamps?{LONG}", f"I check the lamp oil.{LONG}", f"Odd.{LONG}"]
        for mid, text, author in zip(during, texts, (ALICE, BOB, ALICE), strict=True):
            await _say(tavern, _message(mid, text, author))

        assert tavern.poster.unsaved == during
        assert tavern.poster.notices == [DOWN_NOTICE]
        assert await _history(tavern, scene_id) == ["Evening, Marta.", "Reply 0."]
        assert tavern.services.deps.gate.down

        await _back(tavern, refusal)
        assert await _history(tavern, scene_id) == [
            "Evening, Marta.",
            "Reply 0.",
            *texts,
            "Reply 1.",
        ]
        assert (tavern.poster.unsaved, tavern.poster.unmarked) == ([], during)
        assert tavern.poster.notices == [DOWN_NOTICE, BACK_NOTICE]
        assert len(tavern.poster.posts) == 2  # the kept posts are answered once
    finally:
        refusal.remove()


async def test_rounds_wait_with_one_notice_while_writes_fail_and_run_when_back(
    db: Database, refusal: RefusedWrites
) -> None:
    tavern, scene_id = await _tavern(db)
    sessions = tavern.services.sessions
    [evening] = _ids(1)
    await _say(tavern, _message(evening, "Evening, Marta."))
    refusal.on = True
    for _ in range(3):  # the first round's turn is refused; the next two do not even start
        sessions.trigger(CHANNEL, Trigger())
        await within_guard(sessions.wait_idle())

    assert tavern.poster.notices == [DOWN_NOTICE]
    assert len(tavern.engine.of_kind("text")) == 2  # the first reply, and the refused one
    assert len(tavern.poster.posts) == 1

    await _back(tavern, refusal)
    assert tavern.poster.notices == [DOWN_NOTICE, BACK_NOTICE]
    assert [p[3] for p in tavern.poster.posts] == ["Reply 0.", "Reply 2."]  # the round ran once
    assert await _history(tavern, scene_id) == ["Evening, Marta.", "Reply 0.", "Reply 2."]


class RefusedMidPost(RecordingPoster):
    """The database stops taking writes while a turn is being posted."""

    def __init__(self) -> None:
        super().__init__()
        self.refusal: RefusedWrites | None = None

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        if self.refusal is not None and not self.refusal.on:
            self.refusal.on = True  # the turn is stored pending; recording its message fails
        return await super().post_turn(channel_id, speaker, avatar_url, text, on_part)


async def test_a_turn_whose_store_fails_mid_round_is_never_half_in_the_history(
    db: Database, refusal: RefusedWrites
) -> None:
    poster = RefusedMidPost()
    tavern, scene_id = await _tavern(db, poster)
    turns = tavern.stores.turns
    poster.refusal = refusal
    [evening] = _ids(1)
    await _say(tavern, _message(evening, "Evening, Marta."))

    [(_, _, _, _, [sent])] = poster.posts
    assert poster.deleted == [(CHANNEL, [sent])]  # the part that went out came down again
    assert await _history(tavern, scene_id) == ["Evening, Marta."]
    assert poster.notices == [DOWN_NOTICE]
    [left] = await turns.pending(scene_id)  # the store could not even withdraw it
    assert (left.content, left.message_ids) == ("Reply 0.", [])

    poster.refusal = None
    await _back(tavern, refusal)
    assert await turns.pending() == []
    assert (await turns.get(left.id)).deleted
    assert await _history(tavern, scene_id) == ["Evening, Marta.", "Reply 1."]
    assert poster.notices == [DOWN_NOTICE, BACK_NOTICE]
