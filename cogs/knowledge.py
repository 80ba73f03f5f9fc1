"""`/whisper` and `/npc tell`: thin adapters over `KnowledgeCommands`.

`/scene who`, `/scene leave` and `/scene enter` live with the rest of `/scene` in `cogs/scenes.py`.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.channel.ports import Reply
from bot.channel.text import split_message
from bot.knowledge.service import KnowledgeCommands
from cogs.common import NO_MENTIONS, Failed, actor_from, answer, attempt, gm_only
from cogs.registry import services_of

NPC_GROUP = "npc"


async def _private(interaction: discord.Interaction, text: str) -> None:
    """A followup only the command's user sees, in as many messages as Discord needs."""
    for part in split_message(text):
        await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_MENTIONS)


class KnowledgeCog(commands.Cog):
    """A player's whisper to one NPC, answered privately."""

    def __init__(self, knowledge: KnowledgeCommands) -> None:
        self.knowledge = knowledge

    async def cast_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await self.knowledge.cast_names(actor_from(interaction), current)
        return [app_commands.Choice(name=n, value=n) for n in names]

    @app_commands.command(name="whisper", description="Say something to one NPC alone")
    @app_commands.guild_only()
    @app_commands.describe(npc="The NPC who hears it", text="What your character whispers")
    @app_commands.autocomplete(npc=cast_names)
    async def whisper(self, interaction: discord.Interaction, npc: str, text: str) -> None:
        # Ephemeral, not a direct message: it needs no DM permission (members may close their
        # DMs to server bots), and the whisper and its answer stay beside the scene they are
        # part of. Deferred: the answer is a model turn, which takes longer than 3 seconds.
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def heard(line: str) -> None:
            await _private(interaction, line)

        actor = actor_from(interaction)
        result = await attempt(self.knowledge.whisper(actor, npc, text, heard))
        reply = Reply(result.text) if isinstance(result, Failed) else result
        await _private(interaction, reply.text)


def tell_command(knowledge: KnowledgeCommands) -> app_commands.Command[Any, ..., None]:
    """`/npc tell`, made for the `/npc` group, which `cogs/characters.py` owns."""

    async def npc_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await knowledge.npc_names(actor_from(interaction), current)
        return [app_commands.Choice(name=n, value=n) for n in names]

    @app_commands.command(name="tell", description="Tell one NPC something only it will know")
    @app_commands.describe(npc="The NPC who learns it", text="What it learns")
    @app_commands.autocomplete(npc=npc_names)
    async def tell(interaction: discord.Interaction, npc: str, text: str) -> None:
        await answer(interaction, knowledge.tell(actor_from(interaction), npc, text))

    return gm_only(tell)


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: `/whisper`, and `/npc tell` in the `/npc` group."""
    knowledge = services_of(bot).get(KnowledgeCommands)
    await bot.add_cog(KnowledgeCog(knowledge))
    # Extensions load in name order, so cogs.characters has made the group by now.
    group = bot.tree.get_command(NPC_GROUP)
    if not isinstance(group, app_commands.Group):
        raise RuntimeError("/npc tell needs the /npc group: load cogs.characters first")
    group.add_command(tell_command(knowledge))
