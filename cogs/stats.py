"""`/stat …`: a thin adapter over `StatCommands`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.state.service import StatCommands
from cogs.common import actor_from, answer, gm_only
from cogs.registry import services_of

KEY_HELP = "The value's name, like HP, Gold or Inventory"
CHARACTER_HELP = "Whose value (a GM may name anyone in the scene; default: your own character)"
SWITCH = [app_commands.Choice(name=v, value=v) for v in ("on", "off")]


@app_commands.guild_only()
class StatCog(commands.GroupCog, group_name="stat", group_description="Tracked values: HP, gold"):
    """Tracked values of the scene's characters: set, add, remove, show."""

    def __init__(self, service: StatCommands) -> None:
        self.service = service

    async def characters(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await self.service.names(actor_from(interaction), current)
        return [app_commands.Choice(name=n, value=n) for n in names]

    @app_commands.command(
        name="set", description="Set a value: 12/20 (with a maximum), 15, or a list"
    )
    @app_commands.describe(
        key=KEY_HELP,
        value="12/20 a number with a maximum, 15 a counter, rope, lantern a list",
        character=CHARACTER_HELP,
    )
    @app_commands.autocomplete(character=characters)
    async def stat_set(
        self, interaction: discord.Interaction, key: str, value: str, character: str | None = None
    ) -> None:
        await answer(interaction, self.service.set(actor_from(interaction), key, value, character))

    @app_commands.command(
        name="add", description="Add to a value: +2 or -3 to a number, items to a list"
    )
    @app_commands.describe(
        key=KEY_HELP,
        value="+2 or -3 for a number; rope, lantern for a list",
        character=CHARACTER_HELP,
    )
    @app_commands.autocomplete(character=characters)
    async def stat_add(
        self, interaction: discord.Interaction, key: str, value: str, character: str | None = None
    ) -> None:
        await answer(interaction, self.service.add(actor_from(interaction), key, value, character))

    @app_commands.command(
        name="remove", description="Take items off a list (no items: stop tracking the value)"
    )
    @app_commands.describe(
        key=KEY_HELP, items="Comma-separated items to take off", character=CHARACTER_HELP
    )
    @app_commands.autocomplete(character=characters)
    async def stat_remove(
        self,
        interaction: discord.Interaction,
        key: str,
        items: str | None = None,
        character: str | None = None,
    ) -> None:
        actor = actor_from(interaction)
        await answer(interaction, self.service.remove(actor, key, items, character))

    @app_commands.command(name="show", description="A character's values, or one value's history")
    @app_commands.describe(
        character="Whose values (default: your own character, or everyone's)",
        key="Show this value's changes, newest last",
    )
    @app_commands.autocomplete(character=characters)
    async def stat_show(
        self, interaction: discord.Interaction, character: str | None = None, key: str | None = None
    ) -> None:
        await answer(interaction, self.service.show(actor_from(interaction), character, key))

    @gm_only
    @app_commands.command(
        name="players", description="Let players change their own character's values here"
    )
    @app_commands.describe(allowed="on: players change their own character's values; off: GMs only")
    @app_commands.choices(allowed=SWITCH)
    async def stat_players(self, interaction: discord.Interaction, allowed: str) -> None:
        on = allowed == "on"
        await answer(interaction, self.service.players(actor_from(interaction), on))


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(StatCog(services.get(StatCommands)))
