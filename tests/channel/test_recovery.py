"""Reading back what was posted while the bot was away, and the start-up cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.channel.ports import IncomingMessage
from bot.channel.recovery import snowflake_at
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    OTHER_CHANNEL,
    OTHER_GUILD,
    OWN_HOOK,
    RecordingPoster,
    Tavern,
    build,
    marta_scene,
    within_guard,
)

PROXY_HOOK = 901
SECOND_ID = 1 << 22  # one millisecond apart in Discord ids


def _at(seconds: float) -> int:
    """A Discord id `seconds` from now."""
    return snowflake_at(datetime.now(UTC) + timedelta(seconds=seconds))


def _message(
    mid: int, text: str, author: int = ALICE, *, webhook: int | None = None
) -> IncomingMessage:
    name = "Pip" if webhook else {ALICE: "Alice", BOB: "Bob"}[author]
    return IncomingMessage(mid, CHANNEL, GUILD, author, name, text, webhook is not None, webhook)


async def _history(tavern: Tavern, scene_id: int) -> list[tuple[str, str]]:
    return [(t.speaker, t.content) for t in await tavern.stores.turns.window(scene_id, 50)]


async def _catch_up(tavern: Tavern) -> None:
    await within_guard(tavern.services.recovery.catch_up([GUILD]))
    await within_guard(tavern.services.sessions.wait_idle())


async def test_messages_posted_while_away_are_stored_in_order_and_answered_once(
    db: Database,
) -> None:
    tavern = build(db)
    scene_id = await marta_scene(tavern)
    base = _at(1)
    await tavern.services.play.on_message(_message(base, "Before the crash."))
    await within_guard(tavern.services.sessions.wait_idle())
    assert tavern.services.sessions.rounds_started == 1

    restarted = build(db, poster=RecordingPoster(first_id=6001))
    restarted.poster.channel_history[CHANNEL] = [
        _message(base, "Before the crash."),  # stored already
        _message(base + 2 * SECOND_ID, "Is anyone there?"),
        _message(base + 3 * SECOND_ID, "Echo of an NPC.", webhook=OWN_HOOK),
        _message(base + 4 * SECOND_ID, "Pip knocks.", webhook=PROXY_HOOK),
        _message(base + 5 * SECOND_ID, "(( brb ))", BOB),
        _message(base + 6 * SECOND_ID, "Marta, open up!", BOB),
    ]
    await _catch_up(restarted)

    assert restarted.poster.read_back == [(CHANNEL, base)]  # after the newest stored message
    assert await _history(restarted, scene_id) == [
        ("Alice", "Before the crash."),
        ("Marta", "Reply 0."),
        ("Alice", "Is anyone there?"),
        ("Pip", "Pip knocks."),
        ("Bob", "(( brb ))"),
        ("Bob", "Marta, open up!"),
        ("Marta", "Reply 0."),
    ]
    assert restarted.services.sessions.rounds_started == 1  # one answer for all of them

    await _catch_up(restarted)  # nothing new: nothing stored twice, no second answer
    assert len(await _history(restarted, scene_id)) == 7
    assert restarted.services.sessions.rounds_started == 1


async def test_read_back_answers_as_the_reply_mode_says(db: Database) -> None:
    tavern = build(db)
    scene_id = await marta_scene(tavern, reply_mode="mention")
    base = _at(1)
    tavern.poster.channel_history[CHANNEL] = [_message(base, "Nobody named here.")]
    await _catch_up(tavern)
    assert tavern.services.sessions.rounds_started == 0
    assert await _history(tavern, scene_id) == [("Alice", "Nobody named here.")]

    tavern.poster.channel_history[CHANNEL].append(_message(base + SECOND_ID, "Marta?"))
    await _catch_up(tavern)
    assert tavern.services.sessions.rounds_started == 1
    assert (await _history(tavern, scene_id))[-1] == ("Marta", "Reply 0.")


async def test_read_back_starts_no_earlier_than_the_scene_itself(db: Database) -> None:
    """A scene ended and started again does not take in what was said while it was off."""
    tavern = build(db)
    scene_id = await marta_scene(tavern, reply_mode="manual")
    early = _at(-3600)
    await tavern.services.play.on_message(_message(early, "Long ago."))
    scene = await tavern.stores.scenes.get(scene_id)
    tavern.poster.channel_history[CHANNEL] = [_message(early + SECOND_ID, "While it was off.")]

    await _catch_up(tavern)
    [(channel, after)] = tavern.poster.read_back
    assert channel == CHANNEL and after == snowflake_at(scene.updated_at) > early
    assert await _history(tavern, scene_id) == [("Alice", "Long ago.")]


async def test_read_back_covers_only_the_given_guilds_active_scenes(db: Database) -> None:
    tavern = build(db)
    await marta_scene(tavern)
    other = await tavern.stores.scenes.start(
        guild_id=OTHER_GUILD, channel_id=OTHER_CHANNEL, format="chatml"
    )
    assert other.channel_id == OTHER_CHANNEL
    await within_guard(tavern.services.recovery.catch_up([GUILD]))
    assert [c for c, _ in tavern.poster.read_back] == [CHANNEL]
    assert tavern.services.recovery.caught_up.is_set()

    await tavern.stores.scenes.end(CHANNEL)
    await within_guard(tavern.services.recovery.catch_up([GUILD, OTHER_GUILD]))
    assert [c for c, _ in tavern.poster.read_back] == [CHANNEL, OTHER_CHANNEL]
