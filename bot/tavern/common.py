"""Types shared by the Discord-facing services and the adapter that implements `Poster`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


class UserError(Exception):
    """Something the user should fix; the message is shown to them as is."""


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
    """What a command answers: text, whether only the user sees it, and an optional file."""

    text: str
    ephemeral: bool = True
    file: tuple[str, bytes] | None = None


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


class Poster(Protocol):
    """Posts and edits character messages; implemented by the Discord adapter."""

    def owns_webhook(self, webhook_id: int) -> bool: ...

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str
    ) -> list[int]: ...

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]: ...

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None: ...

    async def set_controls(self, channel_id: int, message_id: int, turn_id: int | None) -> None: ...

    async def notice(self, channel_id: int, text: str) -> None: ...

    async def refresh_links(self, urls: Sequence[str]) -> dict[str, str]:
        """Fresh links for expired Discord attachment links (original -> refreshed)."""
        ...

    def typing(self, channel_id: int) -> AbstractAsyncContextManager[None]: ...
