"""`/roll`: a thin adapter over `DiceCommands`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.dice.service import DiceCommands
from cogs.common import actor_from, answer
from cogs.registry import services_of


class DiceCog(commands.Cog):
    """Dice rolled by the bot, posted under the roller's character."""

    def __init__(self, service: DiceCommands) -> None:
        self.service = service

    @app_commands.command(name="roll", description="Roll dice: 1d20+5, 4d6kh3, 1d6!, 6d10>=8")
    @app_commands.guild_only()
    @app_commands.describe(
        dice="What to roll, like 1d20+5, 4d6kh3, 2d20kl1, 1d6! or 6d10>=8",
        reason="What the roll is for, like Stealth",
        private="Only you (and the GMs, in the export) see it; the NPCs do not",
    )
    async def roll(
        self,
        interaction: discord.Interaction,
        dice: app_commands.Range[str, 1, 200],
        reason: app_commands.Range[str, 1, 100] | None = None,
        private: bool = False,
    ) -> None:
        # Private: the roll is posted through the webhook, which may take longer than Discord
        # waits for an answer; the reply itself is for the roller only.
        work = self.service.roll(actor_from(interaction), dice, reason, private)
        await answer(interaction, work, defer="private")


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    await bot.add_cog(DiceCog(services_of(bot).get(DiceCommands)))
