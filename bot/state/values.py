"""The value types of tracked state: what a change carries and what the fold makes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain import StateOp
from bot.errors import UserError


class StateError(UserError, ValueError):
    """A tracked-value change that cannot be made; the message names the value."""


@dataclass(frozen=True)
class Number:
    """A number, with an optional maximum it never exceeds (it may go below zero)."""

    value: int
    maximum: int | None = None


Items = tuple[str, ...]
StatValue = Number | Items
# What a change carries: set → Number | Items; add → int | Items; remove → Items, or None for
# the whole value.
ChangeValue = Number | Items | int | None


@dataclass(frozen=True)
class Stat:
    """One tracked value of a character, under the key as first written."""

    key: str
    value: StatValue


@dataclass(frozen=True)
class Change:
    """A parsed, checked change to one character's value."""

    character_id: int
    key: str
    op: StateOp
    value: ChangeValue


Stats = Mapping[str, Stat]  # casefolded key → value, in the order the keys were first set


@dataclass(frozen=True)
class SceneState:
    """Every character's values in a scene."""

    characters: Mapping[int, Stats] = field(default_factory=dict)

    def of(self, character_id: int) -> Stats:
        """The character's values (empty when it has none)."""
        return self.characters.get(character_id, {})

    def get(self, character_id: int, key: str) -> Stat | None:
        return self.of(character_id).get(key.casefold())


def encode(value: ChangeValue) -> dict[str, Any]:
    """A change's value as stored (JSON)."""
    if isinstance(value, Number):
        return {"value": value.value, "max": value.maximum}
    if isinstance(value, tuple):
        return {"items": list(value)}
    if isinstance(value, int):
        return {"delta": value}
    return {"whole": True}


def decode(data: Any) -> ChangeValue:
    """A stored value back; StateError for a shape no version wrote."""
    if isinstance(data, dict):
        if isinstance(data.get("value"), int):
            top = data.get("max")
            return Number(data["value"], top if isinstance(top, int) else None)
        items = data.get("items")
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return tuple(items)
        if isinstance(data.get("delta"), int):
            return int(data["delta"])
        if data.get("whole") is True:
            return None
    raise StateError("A stored value has an unknown shape.")
