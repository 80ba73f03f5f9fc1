"""Builds and runs the Discord bot over the core: the only place that knows both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.channel.services import Services
from bot.core import Core
from cogs.buttons import ClearButton, TurnButton
from cogs.common import NO_MENTIONS, failure_text
from cogs.registry import ServiceHost, cog_extensions, services_of
from cogs.webhooks import WebhookPoster

log = logging.getLogger("tavernkeep.discord")


def point_at(api_base: str | None, gateway_url: str | None) -> None:
    """Send REST and gateway traffic to a proxy (or a test fake) instead of Discord."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class TavernBot(commands.Bot, ServiceHost):
    """The Discord client: events in, services called, replies out."""

    def __init__(self, core: Core, *, guild_ready_timeout: float = 2.0) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
        )
        self.core = core
        self.poster = WebhookPoster(self, live=core.settings.stream_posts)
        self.synced = asyncio.Event()
        self.tree.error(self._on_app_command_error)

    @property
    def tavern(self) -> Services:
        """The services (built in `setup_hook`)."""
        return services_of(self)

    async def setup_hook(self) -> None:
        self.services = services = self.core.services(self.poster)
        # Before any event can start a round: a turn pending now was left by the last run.
        await services.recovery.discard_unposted()
        for extension in cog_extensions():
            await self.load_extension(extension)
        self.add_dynamic_items(TurnButton, ClearButton)
        guild_id = self.core.settings.dev_guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info(
            "synced %d slash commands%s", len(synced), f" to guild {guild_id}" if guild_id else ""
        )
        self.synced.set()

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (%s) to %d servers",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
        )

    async def _on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        text = failure_text(error)
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(
                    text, ephemeral=True, allowed_mentions=NO_MENTIONS
                )

    async def close(self) -> None:
        if self.services is not None:
            await self.services.close()
        await super().close()


def create_bot(core: Core, *, guild_ready_timeout: float = 2.0) -> TavernBot:
    """A bot wired to the core, pointed at the configured API and gateway."""
    point_at(core.settings.discord_api_base, core.settings.discord_gateway_url)
    return TavernBot(core, guild_ready_timeout=guild_ready_timeout)


async def run_bot(core: Core) -> int:
    """Run until SIGINT/SIGTERM, then finish cleanly."""
    token = core.settings.discord_token
    assert token is not None
    bot = create_bot(core)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(bot.start(token.get_secret_value()))
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            return _exit_code(runner)
        log.info("shutting down")
        return 0
    finally:
        stopper.cancel()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner


def _exit_code(runner: asyncio.Task[None]) -> int:
    """0 when the bot stopped by itself; 2 with one log line for a refused start."""
    try:
        runner.result()
    except discord.LoginFailure:
        log.error("Discord refused the token: check DISCORD_TOKEN in .env")
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error(
            "Enable the Message Content intent on the Bot page of the Discord developer "
            "portal, then start again."
        )
        return 2
    return 0
