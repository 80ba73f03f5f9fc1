"""Stopping a front end closes what the features hold (an embedding model and its thread)."""

from __future__ import annotations

from bot.channel.deps import ChannelDeps
from bot.channel.services import Services
from bot.store import Database
from tests.channel.helpers import build


class HoldsAModel:
    """A feature service that frees something of its own when closed."""

    def __init__(self, deps: ChannelDeps) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class HoldsNothing:
    def __init__(self, deps: ChannelDeps) -> None:
        pass


async def test_closing_the_services_closes_the_features_that_hold_something(db: Database) -> None:
    tavern = build(db)
    services = Services(tavern.services.deps, [HoldsAModel, HoldsNothing])
    await services.close()
    assert services.get(HoldsAModel).closed
