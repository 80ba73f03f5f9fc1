"""Tracked values: parsing, the checks every change passes, and the fold of changes into state.

A value is a number with an optional maximum (`HP 12/20`), a counter (`Gold 15`, a number with
none) or a list (`Inventory: rope, lantern`). Changes are `set`, `add` and `remove`; a scene's
state is the fold of the changes that stand, oldest first. Pure: no database, no Discord.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.domain import StateEdit, StateOp
from bot.state.values import (
    Change,
    ChangeValue,
    Items,
    Number,
    SceneState,
    Stat,
    StateError,
    Stats,
    StatValue,
    decode,
    encode,
)

__all__ = [
    "ITEM_MAX",
    "KEYS_PER_CHARACTER",
    "KEY_MAX",
    "LIST_MAX",
    "NUMBER_LIMIT",
    "OPS",
    "Change",
    "ChangeValue",
    "Checked",
    "Items",
    "Number",
    "SceneState",
    "Stat",
    "StatValue",
    "StateError",
    "Stats",
    "apply",
    "check_edit",
    "check_edits",
    "checked_items",
    "checked_key",
    "decode",
    "encode",
    "fold",
    "make_change",
    "parse_change_value",
    "parse_value",
]

KEY_MAX = 40
KEYS_PER_CHARACTER = 30
LIST_MAX = 50
ITEM_MAX = 80
NUMBER_LIMIT = 10**9
OPS: tuple[StateOp, ...] = ("set", "add", "remove")

# Keys are words: letters or digits first, then letters, digits, spaces, `'`, `.`, `-`, `_`.
# No `:`, `,`, `;`, `/`, `#` or brackets, so a key can neither forge a marker nor split the
# status line it is written in.
_KEY = re.compile(r"[^\W_][\w '.-]*")
# A value that starts like a number must be one: `12/-5` is a mistake, not a list item.
_NUMBERISH = re.compile(r"[+-]?[0-9][0-9\s/+-]*", re.ASCII)
_NUMBER = re.compile(r"([+-]?)([0-9]+)(?:\s*/\s*([0-9]+))?", re.ASCII)
_SIGNED = re.compile(r"([+-]?)([0-9]+)", re.ASCII)
_DIGITS_MAX = len(str(NUMBER_LIMIT))  # longer digit runs are out of range (and slow to convert)
# Control characters and surrogates; `;` separates the values of a status line.
_BAD_ITEM_CATEGORIES = frozenset({"Cc", "Cs"})


def checked_key(raw: str) -> str:
    """The key as it is stored, or a StateError."""
    key = " ".join(raw.split())
    if not key:
        raise StateError("A value needs a name, like HP or Gold.")
    if len(key) > KEY_MAX:
        raise StateError(f"{key[:KEY_MAX]}…: value names are limited to {KEY_MAX} characters.")
    if not _KEY.fullmatch(key):
        raise StateError(
            f"{key}: value names are letters, digits and spaces (also ' . - _), "
            "starting with a letter or digit."
        )
    return key


def _int(key: str, sign: str, digits: str) -> int:
    if len(digits.lstrip("0")) > _DIGITS_MAX or int(digits) > NUMBER_LIMIT:
        raise StateError(f"{key}: numbers go from -{NUMBER_LIMIT} to {NUMBER_LIMIT}.")
    return -int(digits) if sign == "-" else int(digits)


def _is_numberish(text: str) -> bool:
    return bool(_NUMBERISH.fullmatch(text))


def _items(key: str, raw: str) -> Items:
    """Comma-separated items, each one checked."""
    items = tuple(item for item in (" ".join(part.split()) for part in raw.split(",")) if item)
    for item in items:
        if len(item) > ITEM_MAX:
            raise StateError(f"{key}: list items are limited to {ITEM_MAX} characters.")
        if ";" in item or any(unicodedata.category(c) in _BAD_ITEM_CATEGORIES for c in item):
            raise StateError(f"{key}: list items cannot hold ';' or control characters.")
    if len(items) > LIST_MAX:
        raise StateError(f"{key}: a list holds at most {LIST_MAX} items.")
    return items


def checked_items(key: str, items: Iterable[str]) -> Items:
    """Items given one by one (a scene file's list): none may hold a comma."""
    given = tuple(items)
    if any("," in item for item in given):
        raise StateError(f"{key}: list items cannot hold ','.")
    checked = _items(key, ",".join(given))
    if len(checked) != len(given):
        raise StateError(f"{key}: list items cannot be empty.")
    return checked


def parse_value(key: str, raw: str) -> StatValue:
    """What `set` writes: `12/20` a number with a maximum, `15` a counter, else a list."""
    text = raw.strip()
    if not text:
        raise StateError(f"{key}: give a value, like 15, 12/20 or rope, lantern.")
    if _is_numberish(text):
        number = _NUMBER.fullmatch(text)
        if number is None:
            raise StateError(f"{key}: write a number like 15, or 12/20 with a maximum.")
        sign, digits, maximum = number.groups()
        value = _int(key, sign, digits)
        top = None if maximum is None else _int(key, "", maximum)
        return Number(value if top is None else min(value, top), top)
    items = _items(key, text)
    if not items:
        raise StateError(f"{key}: give a value, like 15, 12/20 or rope, lantern.")
    return items


def parse_change_value(key: str, op: StateOp, raw: str) -> ChangeValue:
    """The value of a change as written: see `ChangeValue`."""
    if op == "set":
        return parse_value(key, raw)
    text = raw.strip()
    if op == "remove":
        return _items(key, text) if text else None
    if _is_numberish(text):
        signed = _SIGNED.fullmatch(text)
        if signed is None:
            raise StateError(f"{key}: add a whole number like +2 or -3, or items.")
        return _int(key, *signed.groups())
    items = _items(key, text)
    if not items:
        raise StateError(f"{key}: add a whole number like +2 or -3, or items.")
    return items


def _in_range(key: str, value: int) -> int:
    if abs(value) > NUMBER_LIMIT:
        raise StateError(f"{key}: numbers go from -{NUMBER_LIMIT} to {NUMBER_LIMIT}.")
    return value


def _set(key: str, current: Stat | None, value: ChangeValue) -> StatValue:
    if isinstance(value, Number):
        # A plain number keeps the maximum the value already has: `set HP 15` on 12/20 → 15/20.
        if value.maximum is None and current and isinstance(current.value, Number):
            value = Number(value.value, current.value.maximum)
        top = value.maximum
        return Number(value.value if top is None else min(value.value, top), top)
    if isinstance(value, tuple):
        return value
    raise StateError(f"{key}: set takes a number like 15 or 12/20, or items.")


def _add(stat: Stat, value: ChangeValue) -> StatValue:
    current = stat.value
    if isinstance(current, Number):
        if not isinstance(value, int):
            raise StateError(f"{stat.key} is a number: add a whole number like +2 or -3.")
        total = _in_range(stat.key, current.value + value)
        top = current.maximum
        return Number(total if top is None else min(total, top), top)
    if not isinstance(value, tuple) or not value:
        raise StateError(f"{stat.key} is a list: add items, not numbers.")
    if len(current) + len(value) > LIST_MAX:
        raise StateError(f"{stat.key}: a list holds at most {LIST_MAX} items.")
    return current + value


def _remove(stat: Stat, value: Items) -> StatValue:
    current = stat.value
    if isinstance(current, Number):
        raise StateError(f"{stat.key} is a number: only lists have items to remove (add -3).")
    left = list(current)
    for item in value:
        folded = item.casefold()
        index = next((i for i, kept in enumerate(left) if kept.casefold() == folded), None)
        if index is None:
            raise StateError(f"{stat.key} has no {item}.")
        del left[index]
    return tuple(left)


def apply(stats: Stats, change: Change) -> dict[str, Stat]:
    """`stats` with `change` made, or a StateError saying why it cannot be (nothing changes)."""
    folded = change.key.casefold()
    current = stats.get(folded)
    out = dict(stats)
    if change.op == "set":
        if current is None and len(stats) >= KEYS_PER_CHARACTER:
            raise StateError(
                f"{change.key}: a character tracks at most {KEYS_PER_CHARACTER} values; "
                "remove one first."
            )
        value = _set(change.key, current, change.value)
        out[folded] = Stat(current.key if current else change.key, value)
    elif current is None:
        raise StateError(f"{change.key} is not tracked for this character: set it first.")
    elif change.op == "add":
        out[folded] = Stat(current.key, _add(current, change.value))
    elif change.value is None:
        del out[folded]
    elif isinstance(change.value, tuple):
        out[folded] = Stat(current.key, _remove(current, change.value))
    else:
        raise StateError(f"{change.key}: remove takes items, or nothing for the whole value.")
    return out


def make_change(stats: Stats, character_id: int, key: str, op: StateOp, raw: str) -> Change:
    """Parse and check one change against the character's current values."""
    if op not in OPS:
        raise StateError(f"{key}: the change must be set, add or remove.")
    clean = checked_key(key)
    change = Change(character_id, clean, op, parse_change_value(clean, op, raw))
    apply(stats, change)  # refuses what cannot be made now
    return change


def fold(changes: Iterable[Change]) -> SceneState:
    """The state the changes make, oldest first; one that no longer fits is passed over.

    A change was checked when it was made, but a swipe or a deletion since may have taken away
    what it changed (a key, an item): the fold never fails on that.
    """
    characters: dict[int, dict[str, Stat]] = {}
    for change in changes:
        stats = characters.get(change.character_id, {})
        try:
            characters[change.character_id] = apply(stats, change)
        except StateError:
            continue
    return SceneState({cid: stats for cid, stats in characters.items() if stats})


@dataclass(frozen=True)
class Checked:
    """A model-written edit: the change to store, or why it was dropped."""

    change: Change | None
    reason: str | None = None


def check_edit(edit: StateEdit, state: SceneState, characters: Mapping[str, int]) -> Checked:
    """Check a model-written edit against the scene's state and its characters (name → id)."""
    character_id = characters.get(edit.character.casefold())
    if character_id is None:
        return Checked(None, f"{edit.character} is not a character of this scene")
    if edit.op == "remove" and not edit.value.strip():
        return Checked(None, f"{edit.key}: only a GM removes a whole value")
    try:
        stats = state.of(character_id)
        return Checked(make_change(stats, character_id, edit.key, edit.op, edit.value))
    except StateError as exc:
        return Checked(None, str(exc))


def check_edits(
    edits: Iterable[StateEdit], state: SceneState, characters: Mapping[str, int]
) -> tuple[list[Change], list[str]]:
    """Check edits in order, each against the state the ones before it leave."""
    changes: list[Change] = []
    reasons: list[str] = []
    current = {cid: dict(stats) for cid, stats in state.characters.items()}
    for edit in edits:
        checked = check_edit(edit, SceneState(current), characters)
        if checked.change is None:
            reasons.append(checked.reason or "refused")
            continue
        change = checked.change
        current[change.character_id] = apply(current.get(change.character_id, {}), change)
        changes.append(change)
    return changes, reasons
