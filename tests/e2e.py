"""Fixtures for end-to-end tests: the real bot, core and demo model against the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.cli import Core, open_core
from bot.discord_app import TavernBot, create_bot
from bot.settings import Settings, load_settings
from tests.fake_discord import FakeDiscord, restore_discord_py_urls

READY_TIMEOUT = 30.0


@dataclass
class Running:
    """A running bot and the fake it talks to."""

    fake: FakeDiscord
    bot: TavernBot
    core: Core
    task: asyncio.Task[None]


def e2e_settings(fake: FakeDiscord, db_path: Path, **overrides: object) -> Settings:
    """Settings for a bot that talks to `fake`, with small, seeded generation."""
    values: dict[str, object] = {
        "discord_token": "fake-token",
        "database_url": f"sqlite+aiosqlite:///{db_path}",
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "dev_guild_id": fake.guild_id,
        "n_ctx": 2048,
        "max_new_tokens": 40,
        "seed": 7,
        "quiet_seconds": 0.0,
        "reply_cooldown_seconds": 0.0,
        "kv_cache_mb": 64,
    }
    values.update(overrides)
    return load_settings(**values)


async def start_bot(fake: FakeDiscord, settings: Settings) -> Running:
    """Compose the core, start the bot and wait until its commands are synced."""
    core = await open_core(settings)
    bot = create_bot(core, guild_ready_timeout=0.05)
    task = asyncio.create_task(bot.start("fake-token"))
    async with asyncio.timeout(READY_TIMEOUT):
        await fake.wait_ready(timeout=READY_TIMEOUT)
        await bot.synced.wait()
        await bot.wait_until_ready()
    return Running(fake, bot, core, task)


async def stop_bot(running: Running) -> None:
    """Close the bot and the core; the fake keeps running."""
    await running.bot.close()
    try:
        await running.task
    except Exception:  # the task may end with the close; nothing to report
        pass
    await running.core.close()


async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started fake Discord (use from a fixture)."""
    fake = FakeDiscord()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        restore_discord_py_urls()
