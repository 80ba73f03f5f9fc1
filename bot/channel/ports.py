"""What the channel services and their front ends exchange: who acts, replies, posts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.director import GeneratedTurn, MarkerResolver


@dataclass(frozen=True)
class Actor:
    """Who is acting, where, and with which rights."""

    user_id: int
    guild_id: int
    channel_id: int
    display_name: str
    manage_guild: bool = False
    role_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Reply:
    """What a command answers: text, whether only the user sees it, and optional files."""

    text: str
    ephemeral: bool = True
    file: tuple[str, bytes] | None = None
    more_files: tuple[tuple[str, bytes], ...] = ()

    @property
    def files(self) -> list[tuple[str, bytes]]:
        """Every attached file, the main one first."""
        return ([self.file] if self.file is not None else []) + list(self.more_files)


@dataclass(frozen=True)
class IncomingMessage:
    """A message seen in a channel, reduced to what the channel loop needs."""

    message_id: int
    channel_id: int
    guild_id: int
    author_id: int
    author_name: str
    content: str
    author_is_bot: bool = False
    webhook_id: int | None = None
    command_reply: bool = False  # a bot's answer to a slash command (a dice bot's `/roll`)
    reply_to: int | None = None  # the message a Discord reply points to


class MessageGone(Exception):
    """A message a turn was posted as is no longer in the channel (a moderator deleted it)."""

    def __init__(self, message_id: int) -> None:
        super().__init__(f"message {message_id} is gone from the channel")
        self.message_id = message_id


# Awaited with each message id as soon as that part of a turn is out.
PartSent = Callable[[int], Awaitable[None]]


class Poster(Protocol):
    """Posts, edits and reads back channel messages; implemented by the Discord adapter."""

    def owns_webhook(self, webhook_id: int) -> bool: ...

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        """Post `text` as one or more messages, telling `on_part` each id as it is sent."""
        ...

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        """Show `text` in these messages; when it fails, the extra messages it sent are gone.

        Raises `MessageGone` when the turn's messages were deleted in the channel.
        """
        ...

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        """Take these messages down; one already gone is fine, one that stays raises."""
        ...

    async def set_controls(self, channel_id: int, message_id: int, turn_id: int | None) -> None: ...

    async def notice(self, channel_id: int, text: str) -> None: ...

    async def refresh_links(self, urls: Sequence[str]) -> dict[str, str]:
        """Fresh links for expired Discord attachment links (original -> refreshed)."""
        ...

    def typing(self, channel_id: int) -> AbstractAsyncContextManager[None]: ...

    async def mark_unsaved(self, channel_id: int, message_id: int) -> None:
        """Put a visible mark on a player's message the bot could not store."""
        ...

    async def unmark_unsaved(self, channel_id: int, message_id: int) -> None:
        """Take the mark off a player's message that was stored after all."""
        ...

    async def messages_after(
        self, channel_id: int, after_id: int, limit: int
    ) -> list[IncomingMessage]:
        """Up to `limit` messages posted after `after_id`, oldest first (not the bot's own)."""
        ...


@runtime_checkable
class LivePoster(Poster, Protocol):
    """A poster that can show an NPC turn while it is written, then as it was stored."""

    # Whether NPC turns are shown as they are written (Discord: STREAM_POSTS).
    live: bool

    def rate_key(self, channel_id: int) -> int | None:
        """What the channel's updates share the rate limits with (its webhook's channel);
        None where nothing limits them."""
        ...

    async def post_live(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        """Post the start of a turn still being written, telling `on_part` each message id."""
        ...

    async def edit_live(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
        *,
        final: bool,
    ) -> list[int]:
        """Show more of it, as `edit_turn` does (`final`: the turn as stored, in full)."""
        ...


@dataclass(frozen=True)
class Recorded:
    """What storing a generated turn's rolls and state changes added, to take back."""

    roll_ids: tuple[int, ...] = ()
    change_ids: tuple[int, ...] = ()


class TurnMechanics(Protocol):
    """Dice and state for generated turns: what resolves an NPC's markers, and storing them."""

    async def resolver(
        self, scene_id: int, *, without_turn: int | None = None
    ) -> MarkerResolver | None:
        """The markers' resolver for the next generation in the scene (`without_turn`: a turn
        being swiped, whose own changes do not count); None when nothing resolves."""
        ...

    async def record(
        self, scene_id: int, generated: GeneratedTurn, *, fresh: bool = True
    ) -> Recorded:
        """Store a turn's rolls and state changes with its selected swipe, all or none.

        `fresh`: a new turn or swipe, whose version starts with nothing recorded; otherwise (a
        continue) they are added after what the version has.
        """
        ...

    async def forget(self, recorded: Recorded) -> None:
        """Take back what `record` stored (the version it belonged to was not shown)."""
        ...


class NoMechanics:
    """A front end without dice and state: markers are dropped and nothing is recorded."""

    async def resolver(
        self, scene_id: int, *, without_turn: int | None = None
    ) -> MarkerResolver | None:
        return None

    async def record(
        self, scene_id: int, generated: GeneratedTurn, *, fresh: bool = True
    ) -> Recorded:
        return Recorded()

    async def forget(self, recorded: Recorded) -> None:
        return None
