"""Which rounds the bot ran, and when: recorded around the sessions' round runner."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.channel.sessions import ChannelSession, ChannelSessions, Trigger
from bot.domain import CancelToken


@dataclass
class RoundRecord:
    """One round: its channel, its wall-clock start and end (None while it runs)."""

    channel_id: int
    started: float
    ended: float | None = None
    cancelled: bool = False
    failed: bool = False


@dataclass
class RoundLog:
    """Every round the sessions ran, in start order."""

    rounds: list[RoundRecord] = field(default_factory=list)

    @property
    def running(self) -> list[RoundRecord]:
        return [r for r in self.rounds if r.ended is None]

    def watch(self, sessions: ChannelSessions) -> None:
        """Wrap the registry's round runner on this instance, the way `Probe` wraps intake."""
        # The runner is what `ChannelSessions` calls once per round under the channel lock,
        # so one record is one round, merged triggers and all.
        original = sessions._run
        rounds = self.rounds

        async def run(session: ChannelSession, cancel: CancelToken, trigger: Trigger) -> None:
            record = RoundRecord(session.channel_id, time.time())
            rounds.append(record)
            try:
                await original(session, cancel, trigger)
            except BaseException:
                record.failed = True
                raise
            finally:
                record.ended = time.time()
                record.cancelled = cancel.cancelled

        sessions._run = run

    def as_json(self) -> list[dict[str, Any]]:
        return [vars(r) for r in self.rounds]
