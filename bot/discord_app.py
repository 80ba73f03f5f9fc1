"""Builds the Discord bot from the core (the only module in `bot/` that imports discord)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.tavern.app import build_tavern
from bot.tavern.common import IncomingMessage, UserError
from bot.tavern.play import PlayService
from bot.tavern.scenes import SceneCommands
from cogs.buttons import ClearButton, TurnButton
from cogs.characters import CharacterCog
from cogs.common import NO_MENTIONS
from cogs.scenes import SceneCog
from cogs.webhooks import WebhookPoster

if TYPE_CHECKING:
    from bot.cli import Core

log = logging.getLogger("tavernkeep.discord")


def point_at(api_base: str | None, gateway_url: str | None) -> None:
    """Send REST and gateway traffic to a proxy (or a test fake) instead of Discord."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class TavernBot(commands.Bot):
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
        self.poster = WebhookPoster(self)
        self.tavern = build_tavern(
            core.settings, core.stores, core.views, core.director, self.poster
        )
        self.synced = asyncio.Event()
        self.tree.on_error = self._on_app_command_error

    @property
    def play(self) -> PlayService:
        return self.tavern.play

    @property
    def scene_commands(self) -> SceneCommands:
        return self.tavern.scenes

    async def setup_hook(self) -> None:
        tavern = self.tavern
        await self.add_cog(CharacterCog(tavern.characters))
        await self.add_cog(SceneCog(tavern.scenes, tavern.play, tavern.characters))
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

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None and message.author.id == self.user.id:
            return
        # Replies to slash commands (ours or another bot's) carry a webhook id but are no proxy.
        if message.guild is None or message.interaction_metadata is not None:
            return
        try:
            await self.play.on_message(
                IncomingMessage(
                    message_id=message.id,
                    channel_id=message.channel.id,
                    guild_id=message.guild.id,
                    author_id=message.author.id,
                    author_name=message.author.display_name,
                    content=message.content,
                    author_is_bot=message.author.bot,
                    webhook_id=message.webhook_id,
                )
            )
        except Exception:
            log.exception("handling message %s failed", message.id)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        content = payload.data.get("content")
        if isinstance(content, str):
            await self.play.on_edit(payload.message_id, content)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.play.on_delete([payload.message_id])

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self.play.on_delete(sorted(payload.message_ids))

    async def _on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserError):
            text = str(cause)
        elif isinstance(cause, app_commands.CheckFailure):
            text = "You cannot use this command here."
        else:
            log.error("command failed", exc_info=cause)
            text = "Something went wrong; the details are in the bot's log."
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(
                    text, ephemeral=True, allowed_mentions=NO_MENTIONS
                )

    async def close(self) -> None:
        await self.play.close()
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
        log.info("shutting down")
        return 0
    finally:
        stopper.cancel()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
