"""Glue shared by the cogs: who is acting, answering with a `Reply`, reading attachments."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable

import discord

from bot.characters.cards import CARD_MAX_BYTES
from bot.tavern.common import Actor, Reply, UserError

log = logging.getLogger("tavernkeep.discord")
NO_MENTIONS = discord.AllowedMentions.none()
ATTACHMENT_SUFFIXES = (".png", ".json", ".txt", ".md")


def actor_from(interaction: discord.Interaction) -> Actor:
    """The acting member, with Manage Server and roles for the GM check."""
    user = interaction.user
    roles = frozenset(r.id for r in getattr(user, "roles", ()))
    return Actor(
        user_id=user.id,
        guild_id=interaction.guild_id or 0,
        channel_id=interaction.channel_id or 0,
        display_name=user.display_name,
        manage_guild=bool(interaction.permissions.manage_guild),
        role_ids=roles,
    )


async def send(interaction: discord.Interaction, reply: Reply) -> None:
    """Send a reply as the interaction's response or, when already acknowledged, a followup."""
    kwargs: dict[str, object] = {"ephemeral": reply.ephemeral, "allowed_mentions": NO_MENTIONS}
    if reply.file is not None:
        kwargs["file"] = discord.File(io.BytesIO(reply.file[1]), filename=reply.file[0])
    if interaction.response.is_done():
        await interaction.followup.send(reply.text, **kwargs)  # type: ignore[arg-type]
    else:
        await interaction.response.send_message(reply.text, **kwargs)  # type: ignore[arg-type]


async def answer(
    interaction: discord.Interaction, work: Awaitable[Reply], *, defer: bool = False
) -> None:
    """Run one service call and answer with its reply; errors become short ephemeral notes."""
    if defer and not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        reply = await work
    except UserError as exc:
        reply = Reply(str(exc))
    except Exception:
        log.exception("command failed")
        reply = Reply("Something went wrong; the details are in the bot's log.")
    await send(interaction, reply)


async def read_attachment(
    attachment: discord.Attachment | None, limit: int = CARD_MAX_BYTES
) -> tuple[str, bytes] | None:
    """Download an attachment after checking its size and type."""
    if attachment is None:
        return None
    if attachment.size > limit:
        raise UserError(f"{attachment.filename} is larger than {limit // (1024 * 1024)} MB.")
    if not attachment.filename.lower().endswith(ATTACHMENT_SUFFIXES):
        raise UserError("Attach a .png or .json card, or a .txt/.md sheet.")
    try:
        return attachment.filename, await attachment.read()
    except discord.HTTPException:
        raise UserError(f"Could not download {attachment.filename}; try again.") from None
