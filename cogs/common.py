"""Glue shared by the cogs: who is acting, answering with a `Reply`, reading attachments."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import discord
from discord import app_commands

from bot.channel.ports import Actor, IncomingMessage, Reply
from bot.characters.cards import CARD_MAX_BYTES
from bot.characters.service import CharacterCommands
from bot.errors import UNEXPECTED, UserError

log = logging.getLogger("tavernkeep.discord")
NO_MENTIONS = discord.AllowedMentions.none()
ATTACHMENT_SUFFIXES = (".png", ".json", ".txt", ".md")
# How a slow command is acknowledged before its work: a private "thinking" note, or one
# everyone sees (a slash command's public answer fills it in; a button's answer is a new message).
Defer = Literal["private", "public"]
T = TypeVar("T")
AppCommand = TypeVar("AppCommand", bound=app_commands.Command[Any, Any, Any])
# The `extras` key that marks a command as GMs' only (the services refuse everyone else).
GM_ONLY = "gm_only"


def gm_only(command: AppCommand) -> AppCommand:
    """Mark a command as GMs' only; a test proves its service refuses everyone else."""
    command.extras = {**command.extras, GM_ONLY: True}  # copies share the dict: never mutate
    return command


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


def incoming(message: discord.Message, me: discord.abc.User | None) -> IncomingMessage | None:
    """A channel message as the play service reads it; None for ones it never handles."""
    if me is not None and message.author.id == me.id:
        return None
    if message.guild is None:
        return None
    return IncomingMessage(
        message_id=message.id,
        channel_id=message.channel.id,
        guild_id=message.guild.id,
        author_id=message.author.id,
        author_name=message.author.display_name,
        content=_bot_text(message) if message.author.bot else message.content,
        author_is_bot=message.author.bot,
        webhook_id=message.webhook_id,
        # Replies to slash commands carry a webhook id but are no proxy: only a dice bot counts.
        command_reply=message.interaction_metadata is not None,
        reply_to=_replied_to(message),
    )


def _replied_to(message: discord.Message) -> int | None:
    """The message a Discord reply points to (a forward is no reply)."""
    reference = message.reference
    if reference is None or reference.type is not discord.MessageReferenceType.reply:
        return None
    resolved = reference.resolved
    return resolved.id if isinstance(resolved, discord.Message) else reference.message_id


def _bot_text(message: discord.Message) -> str:
    """A bot's post as text: mentions as names, and its embeds (dice bots answer in embeds)."""
    parts = [message.clean_content]
    for embed in message.embeds:
        parts += [embed.title or "", embed.description or ""]
        parts += [f"{field.name}: {field.value}" for field in embed.fields]
    return "\n".join(part.strip() for part in parts if part and part.strip())


async def send(
    interaction: discord.Interaction, reply: Reply, *, public_loading: bool = False
) -> None:
    """Send a reply as the interaction's response or, when already acknowledged, a followup."""
    files = [discord.File(io.BytesIO(data), filename=name) for name, data in reply.files]
    if not interaction.response.is_done():
        await interaction.response.send_message(
            reply.text, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS, files=files
        )
        return
    if public_loading and reply.ephemeral:
        # A public "thinking" note would turn a private answer (an error) public: drop it.
        await interaction.delete_original_response()
    await interaction.followup.send(
        reply.text, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS, files=files
    )


async def acknowledge(interaction: discord.Interaction, how: Defer) -> bool:
    """Acknowledge within Discord's 3 seconds; True when a public loading note now shows."""
    if how == "public" and interaction.type is discord.InteractionType.component:
        await interaction.response.defer()
        return False
    await interaction.response.defer(ephemeral=how == "private", thinking=True)
    return how == "public"


@dataclass(frozen=True)
class Failed:
    """A service call that failed, with the short note its user sees."""

    text: str


def failure_text(error: BaseException) -> str:
    """What a person is told when a command, button or form fails: the one place that decides.

    A `UserError` is shown as it is; anything else is a bug, logged once with its traceback.
    """
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    log.error("command failed", exc_info=error)
    return UNEXPECTED


async def attempt(work: Awaitable[T]) -> T | Failed:
    """Run one service call; a failure becomes the short note `failure_text` words."""
    try:
        return await work
    except Exception as exc:
        return Failed(failure_text(exc))


async def answer(
    interaction: discord.Interaction, work: Awaitable[Reply], *, defer: Defer | None = None
) -> None:
    """Run one service call and answer with its reply; errors become short ephemeral notes."""
    public_loading = False
    if defer is not None and not interaction.response.is_done():
        public_loading = await acknowledge(interaction, defer)
    result = await attempt(work)
    reply = Reply(result.text) if isinstance(result, Failed) else result
    await send(interaction, reply, public_loading=public_loading)


async def read_attachment(
    attachment: discord.Attachment | None,
    limit: int = CARD_MAX_BYTES,
    suffixes: tuple[str, ...] = ATTACHMENT_SUFFIXES,
    wrong_type: str = "Attach a .png or .json card, or a .txt/.md sheet.",
) -> tuple[str, bytes] | None:
    """Download an attachment after checking its size and type."""
    if attachment is None:
        return None
    if attachment.size > limit:
        raise UserError(f"{attachment.filename} is larger than {limit // (1024 * 1024)} MB.")
    if not attachment.filename.lower().endswith(suffixes):
        raise UserError(wrong_type)
    try:
        return attachment.filename, await attachment.read()
    except discord.HTTPException:
        raise UserError(f"Could not download {attachment.filename}; try again.") from None


async def npc_choices(
    characters: CharacterCommands, interaction: discord.Interaction, current: str
) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete over the server's NPC names."""
    names = await characters.names(actor_from(interaction), "npc", current)
    return [discord.app_commands.Choice(name=n, value=n) for n in names]
