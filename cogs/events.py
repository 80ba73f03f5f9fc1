"""Channel events: messages, edits and deletes become turns; a (re)connect reads back the rest."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.channel.intake import PlayService
from bot.channel.recovery import Recovery
from cogs.common import incoming
from cogs.registry import services_of

log = logging.getLogger("tavernkeep.discord")


class ChannelEvents(commands.Cog):
    """Listens to the gateway; the bot's own messages and slash-command replies are skipped."""

    def __init__(self, client: discord.Client, play: PlayService, recovery: Recovery) -> None:
        self.client = client
        self.play = play
        self.recovery = recovery

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        seen = incoming(message, self.client.user)
        if seen is None:
            return
        try:
            await self.play.on_message(seen)
        except Exception:
            log.exception("handling message %s failed", message.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self._catch_up()

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        await self._catch_up()

    async def _catch_up(self) -> None:
        """Messages posted while the bot was offline (or disconnected) are read back."""
        try:
            await self.recovery.catch_up([guild.id for guild in self.client.guilds])
        except Exception:
            log.exception("reading back the scene channels failed")

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        content = payload.data.get("content")
        if isinstance(content, str):
            await self.play.on_edit(payload.message_id, content)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.play.on_delete([payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self.play.on_delete(sorted(payload.message_ids))


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(ChannelEvents(bot, services.play, services.recovery))
