"""What asks for a round (`Trigger`), and what a channel remembers of the table's rhythm."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, init=False)
class Trigger:
    """Why a round should run: a player message, a mention, or an explicit /reply.

    `forced`: the NPCs who answer first, in order (a reply to one, then the names in a post).
    `may_pass`: the model may choose that nobody answers (a post nobody addressed).
    """

    forced: tuple[str, ...]
    delay: float
    may_pass: bool

    def __init__(
        self,
        forced: str | Sequence[str] | None = None,
        delay: float = 0.0,
        *,
        may_pass: bool = False,
    ) -> None:
        names = (forced,) if isinstance(forced, str) else tuple(forced or ())
        object.__setattr__(self, "forced", names)
        object.__setattr__(self, "delay", delay)
        object.__setattr__(self, "may_pass", may_pass)

    def merge(self, newer: Trigger) -> Trigger:
        """The newer trigger's wait wins; forced speakers are all kept, the older ones first."""
        known = {name.casefold() for name in self.forced}
        added = tuple(name for name in newer.forced if name.casefold() not in known)
        # One post that must be answered (a /reply, a name) is enough to rule out passing.
        return Trigger(self.forced + added, newer.delay, may_pass=self.may_pass and newer.may_pass)


@dataclass(eq=False)
class TableWait:
    """Reply mode `table`: who acted since the last NPC round, and the round held for the rest.

    Held in memory only: after a restart the next post counts afresh and re-arms the timeout.
    """

    acted: set[str] = field(default_factory=set)  # speakers' names, casefolded
    held: Trigger | None = None  # what the round answers when it runs (the names asked for)
    due: datetime | None = None  # when the timeout runs the round anyway
    timer: asyncio.TimerHandle | None = None

    def act(self, name: str) -> None:
        """Someone posted (not OOC) under this name since the last NPC round."""
        self.acted.add(name.casefold())

    def has_acted(self, name: str) -> bool:
        return name.casefold() in self.acted

    @property
    def idle(self) -> bool:
        return self.timer is None and self.held is None and not self.acted

    def reset(self) -> None:
        """A new round starts (or the table is given up): nobody has acted yet."""
        if self.timer is not None:
            self.timer.cancel()
        self.acted.clear()
        self.held = self.due = self.timer = None


@dataclass(frozen=True)
class Passed:
    """A round in which the model chose that nobody answers: when, and after whose post."""

    at: datetime
    after: str | None
