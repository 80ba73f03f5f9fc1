"""`/reply [as]`: a thin adapter over `PlayService.reply`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.channel.intake import PlayService
from bot.characters.service import CharacterCommands
from cogs.common import actor_from, answer, npc_choices
from cogs.registry import services_of


class ReplyCog(commands.Cog):
    """Players take a model turn now."""

    def __init__(self, play: PlayService, characters: CharacterCommands) -> None:
        self.play = play
        self.characters = characters

    async def npc_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await npc_choices(self.characters, interaction, current)

    @app_commands.command(name="reply", description="Have the NPCs (or one of them) answer now")
    @app_commands.guild_only()
    @app_commands.rename(as_npc="as")
    @app_commands.describe(as_npc="Which NPC speaks first")
    @app_commands.autocomplete(as_npc=npc_names)
    async def reply(self, interaction: discord.Interaction, as_npc: str | None = None) -> None:
        await answer(interaction, self.play.reply(actor_from(interaction), as_npc))


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(ReplyCog(services.play, services.get(CharacterCommands)))
