"""A scene file's `state = { HP = "12/20", Gold = 15, Inventory = ["rope"] }` table."""

from __future__ import annotations

from typing import Any

from bot.state.rules import Change, Stat, StateError, StatValue, apply, checked_items, checked_key
from bot.state.rules import parse_value as parse_text

_SHAPE = 'state must be a table like { HP = "12/20", Gold = 15, Inventory = ["rope"] }'


def _value(key: str, raw: Any) -> StatValue:
    if isinstance(raw, str):
        return parse_text(key, raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return parse_text(key, str(raw))
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return checked_items(key, raw)
    raise StateError(f'{key}: use text ("12/20"), a whole number or a list of text.')


def stats_from_table(table: Any) -> tuple[Stat, ...]:
    """The values a scene file gives one character, checked like `/stat set` would."""
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise StateError(_SHAPE)
    stats: dict[str, Stat] = {}
    for raw_key, raw in table.items():
        key = checked_key(str(raw_key))
        stats = apply(stats, Change(0, key, "set", _value(key, raw)))
    return tuple(stats.values())
