"""`/narrate` and `/suggest`: thin adapters over `AuthoredPosts`, and a draft's buttons."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.channel.authored import AuthoredPosts, Draft
from bot.channel.ports import Reply
from cogs.common import NO_MENTIONS, Failed, actor_from, answer, attempt, gm_only, send
from cogs.registry import services_of

DRAFT_SECONDS = 900.0  # a draft's buttons answer for 15 minutes
SHOWN_MAX_CHARS = 1800  # the draft as shown; Post sends all of it


def shown(draft: Draft) -> str:
    """The private message that shows a draft."""
    text = draft.text
    if len(text) > SHOWN_MAX_CHARS:
        text = text[:SHOWN_MAX_CHARS].rstrip() + " …"
    return f"**{draft.speaker}** (a draft only you see):\n>>> {text}"


class DraftView(discord.ui.View):
    """**Post** sends the draft as the player's character; **Again** asks for another."""

    def __init__(self, posts: AuthoredPosts, draft: Draft, hint: str | None) -> None:
        super().__init__(timeout=DRAFT_SECONDS)
        self.posts, self.draft, self.hint, self.attempts = posts, draft, hint, 0

    @discord.ui.button(label="Post", emoji="📨", style=discord.ButtonStyle.primary)
    async def post(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        result = await attempt(self.posts.post_draft(actor_from(interaction), self.draft.text))
        if isinstance(result, Failed):
            await send(interaction, Reply(result.text))
            return
        self.stop()
        await interaction.edit_original_response(
            content=result.text, view=None, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Again", emoji="🔄", style=discord.ButtonStyle.secondary)
    async def again(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        actor = actor_from(interaction)
        result = await attempt(self.posts.draft(actor, self.hint, self.attempts + 1))
        if isinstance(result, Failed):
            await send(interaction, Reply(result.text))
            return
        self.draft, self.attempts = result, self.attempts + 1
        await interaction.edit_original_response(
            content=shown(result), view=self, allowed_mentions=NO_MENTIONS
        )


class AuthoredCog(commands.Cog):
    """GMs narrate; players ask the model for a draft of their next post."""

    def __init__(self, posts: AuthoredPosts) -> None:
        self.posts = posts

    @gm_only
    @app_commands.command(name="narrate", description="Post scene narration (GM)")
    @app_commands.guild_only()
    @app_commands.describe(text="What happens, told by the narrator")
    async def narrate(self, interaction: discord.Interaction, text: str) -> None:
        await answer(
            interaction, self.posts.narrate(actor_from(interaction), text), defer="private"
        )

    @app_commands.command(name="suggest", description="Let the model draft your next post")
    @app_commands.guild_only()
    @app_commands.describe(hint="Where the post should go (optional)")
    async def suggest(self, interaction: discord.Interaction, hint: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await attempt(self.posts.draft(actor_from(interaction), hint))
        if isinstance(result, Failed):
            await send(interaction, Reply(result.text))
            return
        view = DraftView(self.posts, result, hint)
        await interaction.followup.send(
            shown(result), view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(AuthoredCog(services.authored))
