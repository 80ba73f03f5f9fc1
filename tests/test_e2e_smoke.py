"""A first end-to-end pass: commands sync, a GM builds a scene, a player posts, NPCs answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e import fake_discord, start_bot, stop_bot, e2e_settings
from tests.fake_discord import FakeDiscord

pytestmark = pytest.mark.model


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async for f in fake_discord():
        yield f


async def test_scene_round_trip(fake: FakeDiscord, tmp_path: Path) -> None:
    running = await start_bot(fake, e2e_settings(fake, tmp_path / "bot.db"))
    try:
        assert {"character", "npc", "scene", "reply", "config"} <= set(fake.commands)
        gm, chan = fake.admin_id, fake.channel_id
        r = await fake.slash(
            "npc",
            subcommand="create",
            user_id=gm,
            channel_id=chan,
            options={
                "name": "Marta",
                "sheet": "**Age**: 52 **Occupation/Profession**: Harbormaster",
            },
        )
        print(await r.response(), await r.followup())
        r = await fake.slash("scene", subcommand="start", user_id=gm, channel_id=chan)
        print(await r.response())
        r = await fake.slash(
            "scene", subcommand="add", user_id=gm, channel_id=chan, options={"npc": "Marta"}
        )
        print(await r.response(), await r.followup())
        player = fake.player_ids[0]
        since = len(fake.messages)
        await fake.user_message(chan, player, "Hello Marta, what happened to the lamps?")
        msg = await fake.wait_for_message(
            lambda m: m.get("webhook_id") is not None, timeout=60, since=since
        )
        print(msg["username"], msg["content"], fake.webhook_executions[-1].get("allowed_mentions"))
    finally:
        await stop_bot(running)
