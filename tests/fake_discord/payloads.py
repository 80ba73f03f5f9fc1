"""Builders for the JSON payloads discord.py 2.7 parses (users, members, channels, messages)."""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits used by the fake guild.
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
GM_PERMISSIONS = MANAGE_MESSAGES | MANAGE_THREADS
ADMIN_PERMISSIONS = MANAGE_GUILD | MANAGE_CHANNELS | MANAGE_ROLES | MANAGE_MESSAGES | MANAGE_THREADS
BOT_PERMISSIONS = MANAGE_WEBHOOKS | MANAGE_MESSAGES | MANAGE_THREADS | MENTION_EVERYONE

# Keys kept on stored messages for the tests but never sent to discord.py.
EXTRA_MESSAGE_KEYS = frozenset(
    {
        "username",
        "avatar_url",
        "allowed_mentions",
        "thread_id",
        "deleted",
        "source",
        "interaction_id",
    }
)

_MENTION_RE = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")


class Snowflakes:
    """Generates unique, increasing, time-based snowflake ids."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        """Return a fresh snowflake."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


def now_iso() -> str:
    """Current UTC time as an ISO 8601 string."""
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, username: str, *, bot: bool = False) -> dict[str, Any]:
    """A full user object."""
    return {
        "id": str(user_id),
        "username": username,
        "global_name": None if bot else username.capitalize(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "verified": True,
        "mfa_enabled": False,
    }


def member_payload(roles: list[int], *, nick: str | None = None) -> dict[str, Any]:
    """A guild member object without its `user` key."""
    return {
        "roles": [str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }


def role_payload(
    role_id: int, name: str, permissions: int, position: int, *, bot_id: int | None = None
) -> dict[str, Any]:
    """A role object; `bot_id` makes it a managed bot role."""
    data: dict[str, Any] = {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": bot_id is not None,
        "mentionable": True,
        "flags": 0,
    }
    if bot_id is not None:
        data["tags"] = {"bot_id": str(bot_id)}
    return data


def text_channel_payload(
    channel_id: int, guild_id: int, name: str, position: int, *, topic: str | None = None
) -> dict[str, Any]:
    """A guild text channel object."""
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "parent_id": None,
        "topic": topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "permission_overwrites": [],
        "flags": 0,
    }


def thread_payload(
    thread_id: int, guild_id: int, parent_id: int, owner_id: int, name: str
) -> dict[str, Any]:
    """A public thread object."""
    return {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2024-01-01T00:00:00+00:00",
            "locked": False,
            "create_timestamp": "2024-01-01T00:00:00+00:00",
        },
    }


def webhook_author(webhook_id: int, username: str, avatar_url: str | None = None) -> dict[str, Any]:
    """The pseudo-user Discord sets as the author of webhook messages."""
    return {
        "id": str(webhook_id),
        "username": username,
        "discriminator": "0000",
        "avatar": None,
        "bot": True,
        "global_name": None,
        "public_flags": 0,
    }


def parse_mentions(
    content: str, allowed: dict[str, Any] | None
) -> tuple[list[int], list[int], bool]:
    """(user ids, role ids, @everyone) that `content` mentions under `allowed` mentions."""
    users = [int(u) for u in _MENTION_RE.findall(content)]
    roles = [int(r) for r in _ROLE_MENTION_RE.findall(content)]
    everyone = "@everyone" in content or "@here" in content
    if allowed is None:
        return users, roles, everyone
    parse = allowed.get("parse", [])
    if "users" not in parse:
        explicit = {int(u) for u in allowed.get("users", [])}
        users = [u for u in users if u in explicit]
    if "roles" not in parse:
        explicit = {int(r) for r in allowed.get("roles", [])}
        roles = [r for r in roles if r in explicit]
    return users, roles, everyone and "everyone" in parse


def wire(message: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe copy of a stored message that is sent to discord.py."""
    data = {k: v for k, v in message.items() if k not in EXTRA_MESSAGE_KEYS}
    data["attachments"] = [
        {k: v for k, v in a.items() if k != "data"} for a in message.get("attachments", [])
    ]
    return data
