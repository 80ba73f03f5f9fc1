"""`/scene recall`: a thin adapter over `RecallCommands`, added to the `/scene` group.

Named after `cogs/scenes.py` so it loads after it (extensions load in name order): the
`/scene` group exists by then.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.recall.service import RecallCommands
from cogs.common import actor_from, answer, gm_only
from cogs.registry import services_of

SCENE_GROUP = "scene"


def recall_command(recall: RecallCommands) -> app_commands.Command[Any, ..., None]:
    """`/scene recall`, made for the `/scene` group, which `cogs/scenes.py` owns."""

    async def cast_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await recall.cast_names(actor_from(interaction), current)
        return [app_commands.Choice(name=n, value=n) for n in names]

    @app_commands.command(name="recall", description="What a query brings back from the scene")
    @app_commands.describe(
        query="Words as a player might say them", npc="Whose memories (default: the whole scene)"
    )
    @app_commands.autocomplete(npc=cast_names)
    async def recall_query(
        interaction: discord.Interaction, query: str, npc: str | None = None
    ) -> None:
        # Deferred: it plans the NPC's next prompt to know which turns are old enough.
        work = recall.query(actor_from(interaction), query, npc)
        await answer(interaction, work, defer="private")

    return gm_only(recall_query)


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: `/scene recall` in the `/scene` group."""
    recall = services_of(bot).get(RecallCommands)
    group = bot.tree.get_command(SCENE_GROUP)
    if not isinstance(group, app_commands.Group):
        raise RuntimeError("/scene recall needs the /scene group: load cogs.scenes first")
    group.add_command(recall_command(recall))
