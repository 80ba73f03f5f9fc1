"""A fake Discord (REST + gateway) on 127.0.0.1 for offline end-to-end tests."""

from __future__ import annotations

import discord.gateway
import discord.http
import discord.webhook.async_
import discord.webhook.sync
import yarl

from .interactions import Interaction
from .server import FakeDiscord

__all__ = [
    "FakeDiscord",
    "FakeInteraction",
    "Interaction",
    "point_discord_py_at",
    "restore_discord_py_urls",
]

FakeInteraction = Interaction

_ROUTE_CLASSES = {
    discord.http.Route,
    getattr(discord.webhook.async_, "Route", discord.http.Route),
    getattr(discord.webhook.sync, "Route", discord.http.Route),
}
_ORIGINAL_BASES = {cls: cls.BASE for cls in _ROUTE_CLASSES}
_ORIGINAL_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def point_discord_py_at(base_url: str, gateway_url: str) -> None:
    """Point discord.py's REST (incl. webhook Route classes) and gateway at another server."""
    for cls in _ROUTE_CLASSES:
        cls.BASE = base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def restore_discord_py_urls() -> None:
    """Undo point_discord_py_at()."""
    for cls, base in _ORIGINAL_BASES.items():
        cls.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = _ORIGINAL_GATEWAY
