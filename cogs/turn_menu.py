"""Apps → Swipe / Continue / Delete on any NPC message of the latest round."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.tavern.turn_actions import TurnAction, TurnActions
from cogs.common import actor_from, answer

MENU: dict[str, TurnAction] = {"Swipe": "swipe", "Continue": "continue", "Delete": "delete"}
MenuCallback = Callable[[discord.Interaction, discord.Message], Awaitable[None]]


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
