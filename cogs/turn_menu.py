"""Apps → Swipe / Continue / Delete on any NPC message of the latest round."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.channel.turn_actions import TurnAction, TurnActions
from cogs.buttons import TURN_ACTIONS
from cogs.common import actor_from, answer
from cogs.registry import services_of

MENU: dict[str, TurnAction] = {label: action for action, (label, _, _) in TURN_ACTIONS.items()}
MenuCallback = Callable[[discord.Interaction, discord.Message], Coroutine[Any, Any, None]]


class TurnMenuCog(commands.Cog):
    """Message context-menu commands: the turn buttons for turns that do not carry them."""

    def __init__(self, bot: commands.Bot, actions: TurnActions) -> None:
        self.bot = bot
        self.actions = actions
        self.menus = [
            app_commands.guild_only(app_commands.ContextMenu(name=label, callback=self._run(act)))
            for label, act in MENU.items()
        ]

    def _run(self, action: TurnAction) -> MenuCallback:
        async def run(interaction: discord.Interaction, message: discord.Message) -> None:
            work = self.actions.on_message(actor_from(interaction), action, message.id)
            await answer(interaction, work, defer="private")

        return run

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(TurnMenuCog(bot, services.turns))
