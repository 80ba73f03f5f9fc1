"""The channel runtime's services and the registered features' services, as one bundle.

The composition root hands one `ChannelDeps` to each registered feature's `build`; a front end
(the Discord cogs, the terminal) then asks `Services` for the runtime's services, or for a
feature's service by its type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar, runtime_checkable

from bot.channel.authored import AuthoredPosts
from bot.channel.deps import ChannelDeps, Feature
from bot.channel.recovery import Recovery
from bot.channel.turn_actions import TurnActions

S = TypeVar("S")


@runtime_checkable
class ClosingFeature(Protocol):
    """A feature service that frees something of its own when the front end stops."""

    async def close(self) -> None: ...


class Services:
    """The channel runtime's services and every feature's service, for one front end."""

    def __init__(self, deps: ChannelDeps, features: Iterable[Feature]) -> None:
        self.deps = deps
        self.sessions = deps.sessions
        self.play = deps.play
        self.recovery = Recovery(deps)
        deps.gate.recover_with(self.recovery.after_outage)
        self.turns = TurnActions(deps)
        self.authored = AuthoredPosts(deps)
        self._features: dict[type, object] = {}
        for build in features:
            service = build(deps)
            self._features[type(service)] = service

    def get(self, kind: type[S]) -> S:
        """The service of type `kind` that a registered feature built."""
        service = self._features.get(kind)
        if not isinstance(service, kind):
            raise LookupError(f"no registered feature provides {kind.__name__}")
        return service

    async def close(self) -> None:
        """Stop probing the database, and waiting and running rounds; then close the features."""
        await self.deps.gate.close()
        await self.sessions.close()
        for service in self._features.values():
            if isinstance(service, ClosingFeature):  # what it holds outlives a round (a model)
                await service.close()
