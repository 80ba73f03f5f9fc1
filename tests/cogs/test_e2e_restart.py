"""End to end: a restart keeps the scene, its cast, its history and its buttons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e import (
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    attachment_text,
    cast_scene,
    click,
    command,
    custom_ids,
    e2e_settings,
    fake_discord,
    npc_posts,
    player_says,
    settle,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord

pytestmark = pytest.mark.model

FIRST = "Marta, who put out the harbor lamps last night?"
SECOND = "Marta, and where is the lamplighter now?"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async for f in fake_discord():
        yield f


def _snapshot(turns: list) -> list[tuple]:
    return [(t.id, t.seq, t.role, t.speaker, t.content, t.message_ids, t.deleted) for t in turns]


async def _first_session(running: Running) -> int:
    """The GM casts Marta, Alice (as Tamsin) asks and Marta answers; returns the channel."""
    fake, alice = running.fake, running.fake.player_ids[0]
    sheet = "**Age**: 52 **Occupation/Profession**: Harbormaster **Personality**: stern"
    chan = await cast_scene(running, "harbor", (Npc("Marta", sheet=sheet),), max_replies=1)
    await command(
        fake,
        "character",
        "create",
        user_id=alice,
        channel_id=chan,
        options={"sheet": "**Character Name**: Tamsin **Age**: 24"},
    )
    await player_says(running, chan, alice, FIRST)
    assert npc_posts(fake, chan), "Marta did not answer"
    await settle(running, npc_posts(fake, chan))
    return chan


async def test_restart_keeps_scene_cast_history_and_buttons(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    settings = e2e_settings(fake, tmp_path / "bot.db")
    alice = fake.player_ids[0]

    running = await start_bot(fake, settings)
    try:
        chan = await _first_session(running)
        scene_before = await running.scene(chan)
        turns_before = _snapshot(await running.turns(chan))
    finally:
        await stop_bot(running)
    hooks_before = dict(fake.webhooks)
    [answer] = npc_posts(fake, chan)

    running = await start_bot(fake, settings)
    try:
        stores = running.core.stores
        scene = await running.scene(chan)
        assert (scene.id, scene.active, scene.max_replies) == (scene_before.id, True, 1)
        assert [c.name for c in await stores.scenes.cast(scene.id)] == ["Marta"]
        assert _snapshot(await running.turns(chan)) == turns_before
        assert [t[2:4] for t in turns_before] == [("user", "Tamsin"), ("model", "Marta")]

        # The buttons posted before the restart still work.
        turn_id = turns_before[-1][0]
        assert f"tk:swipe:{turn_id}" in custom_ids(fake.message(int(answer["id"])))
        swiped = await click(
            fake, answer["id"], f"tk:swipe:{turn_id}", user_id=alice, channel_id=chan
        )
        assert "Swiped" in swiped["content"]
        assert len((await stores.turns.get(turn_id)).swipes) == 2

        # A new round continues the same history, through the same webhook.
        since = len(fake.messages)
        await player_says(running, chan, alice, SECOND)
        posts = npc_posts(fake, chan, since)
        assert posts and posts[0]["username"] == "Marta"
        assert fake.webhooks == hooks_before
        await settle(running, posts)
        turns = await running.turns(chan)
        assert [t.id for t in turns[:2]] == [t[0] for t in turns_before]
        assert [(t.role, t.speaker) for t in turns[2:]] == [("user", "Tamsin"), ("model", "Marta")]
        assert turns[2].seq > turns_before[-1][1]

        prompt = await command(fake, "scene", "prompt", user_id=fake.admin_id, channel_id=chan)
        _, text = attachment_text(prompt)
        assert text.startswith("[INST]system\n")
        swiped_text = turns[1].content
        positions = [text.index(FIRST), text.index(swiped_text), text.index(SECOND)]
        assert positions == sorted(positions)  # the old turns, in order, before the new one
        assert text.find(turns[3].content, positions[-1]) > positions[-1]  # the newest turn last
        assert_no_pings_or_tracebacks(fake)
    finally:
        await stop_bot(running)
