"""End to end: when a moderator deletes the NPC webhook or an NPC message, the channel and the
history never disagree.

The real bot runs against the fake Discord on a scripted engine: these tests are about what
the bot does with Discord's answers, not about the model's text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.e2e import (
    Npc,
    Running,
    cast_scene,
    click,
    custom_ids,
    e2e_settings,
    fake_discord,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)
from tests.fake_discord.payloads import BOT_PERMISSIONS, MANAGE_MESSAGES
from tests.scripted_engine import ScriptedEngine

FIRST, SECOND, THIRD = "The lamps are out.", "The gate is cut.", "Fog rolls in."


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    engine = ScriptedEngine(speakers=["Marta"] * 3, texts=[FIRST, SECOND, THIRD])
    async for fake in fake_discord():
        bot = await start_bot(fake, e2e_settings(fake, tmp_path / "hooks.db"), engine=engine)
        try:
            yield bot
        finally:
            await stop_bot(bot)


async def _marta_answers(running: Running) -> tuple[int, dict[str, object]]:
    """A scene with Marta; a player speaks and Marta's answer is posted: (channel, its post)."""
    channel = await cast_scene(running, "harbor", (Npc("Marta", sheet="**Age**: 52"),))
    since = len(running.fake.messages)
    await player_says(running, channel, running.fake.player_ids[0], "Marta, the lamps?")
    (post,) = npc_posts(running.fake, channel, since)
    return channel, post


async def _press(running: Running, channel: int, post: dict[str, object], action: str) -> str:
    """The GM presses a button under `post`; the bot's answer."""
    button = next(b for b in custom_ids(post) if b.startswith(f"tk:{action}:"))
    answer = await click(
        running.fake, str(post["id"]), button, user_id=running.fake.admin_id, channel_id=channel
    )
    await running.idle()
    return str(answer["content"])


async def test_delete_without_the_webhook_or_manage_messages_keeps_the_turn(
    running: Running,
) -> None:
    fake = running.fake
    channel, post = await _marta_answers(running)
    fake.delete_webhook(int(str(post["webhook_id"])))
    fake.set_bot_permissions(BOT_PERMISSIONS & ~MANAGE_MESSAGES)

    answer = await _press(running, channel, post, "delete")

    assert "would not let me remove" in answer
    assert not fake.message(int(str(post["id"])))["deleted"]
    turn = (await running.turns(channel))[-1]
    assert (turn.content, turn.deleted) == (FIRST, False)


async def test_delete_without_the_webhook_uses_manage_messages(running: Running) -> None:
    fake = running.fake
    channel, post = await _marta_answers(running)
    fake.delete_webhook(int(str(post["webhook_id"])))

    answer = await _press(running, channel, post, "delete")

    assert answer == "Deleted Marta's turn."
    assert fake.message(int(str(post["id"])))["deleted"]
    assert (await running.turns(channel))[-1].deleted


async def test_a_dead_webhook_is_replaced_and_a_swipe_it_cannot_show_changes_nothing(
    running: Running,
) -> None:
    fake = running.fake
    channel, post = await _marta_answers(running)
    dead = int(str(post["webhook_id"]))
    fake.delete_webhook(dead)

    answer = await _press(running, channel, post, "swipe")

    assert "keeps its old one" in answer
    turn = (await running.turns(channel))[-1]
    assert (turn.content, turn.swipes) == (FIRST, [FIRST])
    assert fake.message(int(str(post["id"])))["content"] == FIRST
    # The next round posts through a new webhook instead of failing on the dead one.
    since = len(fake.messages)
    await player_says(running, channel, fake.player_ids[0], "Marta, and the gate?")
    (newer,) = npc_posts(fake, channel, since)
    assert int(str(newer["webhook_id"])) not in (dead, None)
    assert newer["content"] == THIRD


async def test_a_turn_deleted_in_the_channel_unseen_is_not_brought_back(running: Running) -> None:
    fake = running.fake
    channel, post = await _marta_answers(running)
    await fake.moderator_deletes(int(str(post["id"])), seen=False)

    answer = await _press(running, channel, post, "swipe")

    assert "deleted in the channel" in answer
    turn = (await running.turns(channel))[-1]
    assert (turn.content, turn.deleted) == (FIRST, True)
