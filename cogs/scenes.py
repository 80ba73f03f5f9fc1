"""`/scene …`, `/reply` and `/config gm-role`: thin adapters over the scene and play services."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain import FORMAT_NAMES, LENGTHS, REPLY_MODES
from bot.tavern.characters import CharacterCommands
from bot.tavern.play import PlayService
from bot.tavern.scenes import SceneCommands, SceneSettings
from cogs.buttons import ClearButton
from cogs.common import NO_MENTIONS, actor_from, answer


def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values]


FORMATS = _choices(FORMAT_NAMES)
LENGTH_CHOICES = _choices(("none", *LENGTHS))
REPLY_MODE_CHOICES = _choices(REPLY_MODES)


class SceneCog(commands.Cog):
    """Scenes, the cast, and taking model turns."""

    scene = app_commands.Group(name="scene", description="Roleplay scenes (GM)", guild_only=True)
    config = app_commands.Group(
        name="config",
        description="Bot configuration",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(
        self, scenes: SceneCommands, play: PlayService, characters: CharacterCommands
    ) -> None:
        self.scenes = scenes
        self.play = play
        self.characters = characters

    async def npc_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await self.characters.names(actor_from(interaction), "npc", current)
        return [app_commands.Choice(name=n, value=n) for n in names]

    @scene.command(name="start", description="Turn roleplay on in this channel or thread")
    @app_commands.choices(format=FORMATS)
    async def start(self, interaction: discord.Interaction, format: str | None = None) -> None:
        await answer(interaction, self.scenes.start(actor_from(interaction), format))

    @scene.command(name="end", description="Turn roleplay off here (history is kept)")
    async def end(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.scenes.end(actor_from(interaction)))

    @scene.command(name="status", description="This scene's settings, cast and players")
    async def status(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.scenes.status(actor_from(interaction)))

    @scene.command(name="add", description="Add an NPC to the cast (posts its greeting)")
    @app_commands.autocomplete(npc=npc_names)
    async def add(self, interaction: discord.Interaction, npc: str) -> None:
        await answer(interaction, self.scenes.add_npc(actor_from(interaction), npc), defer=True)

    @scene.command(name="remove", description="Remove an NPC from the cast")
    @app_commands.autocomplete(npc=npc_names)
    async def remove(self, interaction: discord.Interaction, npc: str) -> None:
        await answer(interaction, self.scenes.remove_npc(actor_from(interaction), npc))

    @scene.command(name="settings", description="Format, length, reply mode and sampling")
    @app_commands.describe(
        length="LimaRP response length (alpaca-limarp format); none = let the model decide",
        reply_mode="auto: after a quiet moment; mention: when an NPC is named; manual: /reply",
        max_replies="NPC turns per round (1-8)",
    )
    @app_commands.choices(format=FORMATS, length=LENGTH_CHOICES, reply_mode=REPLY_MODE_CHOICES)
    async def settings(
        self,
        interaction: discord.Interaction,
        format: str | None = None,
        length: str | None = None,
        reply_mode: str | None = None,
        max_replies: app_commands.Range[int, 1, 8] | None = None,
        temperature: app_commands.Range[float, 0.0, 2.0] | None = None,
        min_p: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        changes = SceneSettings(format, length, reply_mode, max_replies, temperature, min_p)
        await answer(interaction, self.scenes.settings(actor_from(interaction), changes))

    @scene.command(name="scenario", description="Set the scenario (empty text removes it)")
    async def scenario(self, interaction: discord.Interaction, text: str) -> None:
        await answer(interaction, self.scenes.scenario(actor_from(interaction), text))

    @scene.command(name="prompt", description="The exact prompt the model sees next")
    async def prompt(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.scenes.prompt(actor_from(interaction)), defer=True)

    @scene.command(name="export", description="Download this scene's transcript")
    async def export(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.scenes.export(actor_from(interaction)), defer=True)

    @scene.command(name="clear", description="Delete this scene's history (asks first)")
    async def clear(self, interaction: discord.Interaction) -> None:
        reply, scene_id = await self.scenes.clear_request(actor_from(interaction))
        view = discord.ui.View(timeout=None)
        view.add_item(ClearButton(scene_id))
        await interaction.response.send_message(
            reply.text, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="reply", description="Have the NPCs (or one of them) answer now")
    @app_commands.guild_only()
    @app_commands.rename(as_npc="as")
    @app_commands.describe(as_npc="Which NPC speaks first")
    @app_commands.autocomplete(as_npc=npc_names)
    async def reply(self, interaction: discord.Interaction, as_npc: str | None = None) -> None:
        await answer(interaction, self.play.reply(actor_from(interaction), as_npc))

    @config.command(name="gm-role", description="Who counts as GM besides Manage Server")
    async def gm_role(
        self, interaction: discord.Interaction, role: discord.Role | None = None
    ) -> None:
        role_id = role.id if role else None
        await answer(interaction, self.scenes.set_gm_role(actor_from(interaction), role_id))
