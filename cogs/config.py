"""`/config …`: a thin adapter over `ConfigCommands`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.guild.service import ConfigCommands
from cogs.common import actor_from, answer, gm_only
from cogs.registry import services_of


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ConfigCog(commands.GroupCog, group_name="config", group_description="Bot configuration"):
    """Server configuration (Manage Server only)."""

    def __init__(self, config: ConfigCommands) -> None:
        self.config = config

    @gm_only
    @app_commands.command(name="gm-role", description="Who counts as GM besides Manage Server")
    async def gm_role(
        self, interaction: discord.Interaction, role: discord.Role | None = None
    ) -> None:
        role_id = role.id if role else None
        await answer(interaction, self.config.set_gm_role(actor_from(interaction), role_id))


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(ConfigCog(services.get(ConfigCommands)))
