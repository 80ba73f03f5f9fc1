"""Lore entries written by hand (a scene file's `[[lore]]` tables) with friendly field names.

`characters` limits an entry to some characters: a list of names (`["Mara", "Rook"]`) or one
comma-separated text; a `!` before the first name keeps the entry from them instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .character_filter import CARD_KEY, FilterInputError, filter_json, names_from_list
from .convert import entry_from_card
from .limits import LoreError, check_entry
from .model import LOGICS, ROLES, LoreEntry

__all__ = ["TABLE_FIELDS", "TableError", "entry_from_table"]

# Friendly name: (where it goes in a card entry, what it must be).
_TOP = {
    "keys": "keys",
    "content": "content",
    "secondary_keys": "secondary_keys",
    "selective": "selective",
    "constant": "constant",
    "enabled": "enabled",
    "order": "insertion_order",
    "insertion_order": "insertion_order",
    "priority": "priority",
    "name": "name",
    "comment": "comment",
    "case_sensitive": "case_sensitive",
    "use_regex": "use_regex",
}
_EXTENSIONS = {
    "depth": "depth",
    "sticky": "sticky",
    "scan_depth": "scan_depth",
    "whole_words": "match_whole_words",
    "prevent_recursion": "prevent_recursion",
    "exclude_recursion": "exclude_recursion",
    "delay": "delay",
    "cooldown": "cooldown",
    "probability": "probability",
    "group": "group",
    "group_override": "group_override",
    "group_weight": "group_weight",
}
_POSITIONS = {"before_char": 0, "after_char": 1, "at_depth": 4}
TABLE_FIELDS = (*_TOP, *_EXTENSIONS, "logic", "position", "role", "characters")


class TableError(LoreError):
    """A hand-written entry with a bad field; the message names it."""


def _choice(table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in allowed:
        raise TableError(f"{key} must be one of {', '.join(allowed)}")
    return allowed.index(value.lower())


def _characters(value: Any) -> dict[str, Any] | None:
    """The SillyTavern filter object `characters` gives; None when it names nobody."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise TableError("characters must be a list of names (or one text of names)")
    try:
        names, exclude = names_from_list(value)
    except FilterInputError as exc:
        raise TableError(str(exc)) from None
    return filter_json(names, exclude) if names else None


def entry_from_table(table: Mapping[str, Any]) -> LoreEntry:
    """An entry from friendly fields: keys, content, secondary_keys, logic, position, depth, ..."""
    unknown = sorted(set(table) - set(TABLE_FIELDS))
    if unknown:
        raise TableError(f"unknown field {unknown[0]!r}; fields: {', '.join(TABLE_FIELDS)}")
    if not isinstance(table.get("content"), str) or not table["content"].strip():
        raise TableError("needs content (text)")
    for key in ("depth", "sticky", "scan_depth", "delay", "cooldown"):
        value = table.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise TableError(f"{key} must be a whole number of turns")
    for key in ("whole_words", "prevent_recursion", "exclude_recursion", "group_override"):
        if key in table and not isinstance(table[key], bool):
            raise TableError(f"{key} must be true or false")
    for key, top in (("probability", 100), ("group_weight", None)):
        value = table.get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= (top or value)
        ):
            raise TableError(f"{key} must be a number" + (f" from 0 to {top}" if top else " ≥ 0"))
    if "group" in table and not isinstance(table["group"], str):
        raise TableError("group must be text (names separated by commas)")
    card: dict[str, Any] = {_TOP[k]: v for k, v in table.items() if k in _TOP}
    extensions = {_EXTENSIONS[k]: v for k, v in table.items() if k in _EXTENSIONS}
    logic = _choice(table, "logic", LOGICS)
    if logic is not None:
        extensions["selectiveLogic"] = logic
    if "probability" in table:
        extensions["useProbability"] = True
    role = _choice(table, "role", ROLES)
    if role is not None:
        extensions["role"] = role
    position = _choice(table, "position", tuple(_POSITIONS))
    if position is not None:
        name = tuple(_POSITIONS)[position]
        extensions["position"] = _POSITIONS[name]
        card["position"] = "before_char" if name == "before_char" else "after_char"
    # Secondary keys written by hand are meant to count.
    if table.get("secondary_keys") and "selective" not in table:
        card["selective"] = True
    card.setdefault("keys", [])
    card.setdefault("enabled", True)
    card.setdefault("insertion_order", 100)
    card["extensions"] = extensions
    entry = entry_from_card(card)
    if entry.extras:
        raise TableError(f"{next(iter(entry.extras))} has the wrong type")
    only = _characters(table["characters"]) if "characters" in table else None
    if only is not None:  # where a card entry keeps it, so export writes it as SillyTavern does
        entry = dataclasses.replace(entry, extras={CARD_KEY: only})
    try:
        check_entry(entry)
    except LoreError as exc:
        raise TableError(str(exc)) from None
    return entry
