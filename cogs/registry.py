"""The services the cogs and buttons call, found through the client that received an event."""

from __future__ import annotations

import discord

from bot.tavern.services import TavernServices


class ServiceHost(discord.Client):
    """A client that carries the tavern services once `setup_hook` has built them."""

    services: TavernServices | None = None


def services_of(client: discord.Client) -> TavernServices:
    """The services of the bot that received an interaction (buttons have no other way in)."""
    services = client.services if isinstance(client, ServiceHost) else None
    if services is None:
        raise RuntimeError("the bot's services are not set up yet")
    return services
