"""The services the cogs and buttons call, and the cog modules the bot loads."""

from __future__ import annotations

import importlib
import pkgutil

import discord

from bot.channel.services import Services


class ServiceHost(discord.Client):
    """A client that carries the channel services once `setup_hook` has built them."""

    services: Services | None = None


def services_of(client: discord.Client) -> Services:
    """The services of the bot that received an interaction (buttons have no other way in)."""
    services = client.services if isinstance(client, ServiceHost) else None
    if services is None:
        raise RuntimeError("the bot's services are not set up yet")
    return services


def cog_extensions() -> list[str]:
    """Every module of this package with a `setup` entry point: a new cog needs no list edit."""
    package = importlib.import_module(__package__ or "cogs")
    names = (f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__))
    return sorted(name for name in names if hasattr(importlib.import_module(name), "setup"))
