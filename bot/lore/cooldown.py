"""SillyTavern's cooldown: after an entry's activation ends it cannot fire for N turns.

SillyTavern keeps timers in the chat. Here nothing is stored, as for sticky entries (see
activation.py): the entry's last prompts are replayed from the turns, oldest first, so the
same turns always give the same answer, and a swipe or an edit is simply a different history.
A replay starts from a quiet state `horizon` prompts back, so a cycle that began before that
may be replayed out of phase: the price of storing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["COOLDOWN_REPLAY", "Timeline", "replay", "replay_horizon"]

COOLDOWN_REPLAY = 32  # prompts at most: the replay must stay cheap on every prompt

Reason = TypeVar("Reason")


@dataclass(frozen=True)
class Timeline(Generic[Reason]):
    """Where an entry with a cooldown stands for the next prompt."""

    cooling: bool  # it may not fire for this prompt
    ago: int = 0  # while sticky: how many prompts back the activation began
    left: int = 0  # while sticky: prompts it stays in after this one
    why: Reason | None = None  # while sticky: why it fired then


def replay_horizon(sticky: int, cooldown: int) -> int:
    """How many past prompts to replay: a few whole cycles, at most COOLDOWN_REPLAY."""
    return min(COOLDOWN_REPLAY, 3 * (sticky + cooldown + 1))


def replay(
    fires: Callable[[int], Reason | None], sticky: int, cooldown: int, horizon: int
) -> Timeline[Reason]:
    """The state after the prompts `horizon` ... 1 back, given whether each one fired it.

    An activation keeps the entry in for `sticky` more prompts (triggers meanwhile change
    nothing); then it cools down for `cooldown` prompts, in which its keys are ignored.
    """
    stick = cool = began = 0
    why: Reason | None = None
    for ago in range(horizon, 0, -1):
        if cool:
            cool -= 1
        elif stick:
            stick -= 1
            cool = 0 if stick else cooldown
        elif (found := fires(ago)) is not None:
            began, why, stick = ago, found, sticky
            cool = 0 if stick else cooldown
    if cool:
        return Timeline(cooling=True)
    if stick:
        return Timeline(cooling=False, ago=began, left=stick - 1, why=why)
    return Timeline(cooling=False)
