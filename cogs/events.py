"""Channel events: messages, edits and deletes become turns through `PlayService`."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.tavern.common import IncomingMessage
from bot.tavern.play import PlayService

log = logging.getLogger("tavernkeep.discord")


class ChannelEvents(commands.Cog):
    """Listens to the gateway; the bot's own messages and slash-command replies are skipped."""

    def __init__(self, client: discord.Client, play: PlayService) -> None:
        self.client = client
        self.play = play

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.client.user
        if me is not None and message.author.id == me.id:
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
