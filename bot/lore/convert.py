"""Lorebooks to and from JSON: card `character_book` (V2/V3) and SillyTavern World Info.

Export is always a V2 `character_book`. SillyTavern's own fields travel in each entry's
`extensions` under the names SillyTavern itself uses when it writes a card, so a book exported
here loads in SillyTavern with the same behaviour. The character filter (`characterFilter` in
World Info) goes, as SillyTavern writes it, at the top of the card entry as `character_filter`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

from .character_filter import CARD_KEY, WORLD_INFO_KEY
from .model import DEFAULT_ORDER, Lorebook, LoreEntry

__all__ = [
    "book_from_card_book",
    "book_from_world_info",
    "entry_from_card",
    "entry_to_card",
    "export_card_book",
]

# SillyTavern World Info entry fields and their names in a card entry's `extensions`.
_ST_EXTENSIONS = {
    "excludeRecursion": "exclude_recursion",
    "preventRecursion": "prevent_recursion",
    "delayUntilRecursion": "delay_until_recursion",
    "displayIndex": "display_index",
    "probability": "probability",
    "useProbability": "useProbability",
    "depth": "depth",
    "selectiveLogic": "selectiveLogic",
    "outletName": "outlet_name",
    "group": "group",
    "groupOverride": "group_override",
    "groupWeight": "group_weight",
    "scanDepth": "scan_depth",
    "caseSensitive": "case_sensitive",
    "matchWholeWords": "match_whole_words",
    "useGroupScoring": "use_group_scoring",
    "automationId": "automation_id",
    "role": "role",
    "vectorized": "vectorized",
    "sticky": "sticky",
    "cooldown": "cooldown",
    "delay": "delay",
    "matchPersonaDescription": "match_persona_description",
    "matchCharacterDescription": "match_character_description",
    "matchCharacterPersonality": "match_character_personality",
    "matchCharacterDepthPrompt": "match_character_depth_prompt",
    "matchScenario": "match_scenario",
    "matchCreatorNotes": "match_creator_notes",
    "triggers": "triggers",
    "ignoreBudget": "ignore_budget",
}
# SillyTavern keeps the card book it converted a World Info file from; the entries supersede it.
_ST_BOOK_DROPPED = frozenset({"originalData"})


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold U+0000; a NUL in a hostile file must not fail the store.
    return text.replace("\x00", "")


def _text(value: Any) -> str | None:
    return _clean(value) if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    """A finite number; NaN, infinities and integers no float holds stay as written (extras)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return value if math.isfinite(value) else None
    except OverflowError:
        return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _uid(value: Any) -> int | str | None:
    if isinstance(value, str):
        return _clean(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _keys(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):  # some exporters write one comma-separated string
        return tuple(k for k in (_clean(part).strip() for part in value.split(",")) if k)
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        return tuple(_clean(k) for k in value)
    return None


def _dict(value: Any) -> dict[str, Any] | None:
    return copy.deepcopy(value) if isinstance(value, dict) else None


_Reader = Callable[[Any], Any]
_ENTRY_FIELDS: dict[str, tuple[str, _Reader]] = {  # card field: (attribute, reader)
    "keys": ("keys", _keys),
    "content": ("content", _text),
    "extensions": ("extensions", _dict),
    "enabled": ("enabled", _flag),
    "insertion_order": ("insertion_order", _number),
    "id": ("uid", _uid),
    "name": ("name", _text),
    "comment": ("comment", _text),
    "secondary_keys": ("secondary_keys", _keys),
    "selective": ("selective", _flag),
    "constant": ("constant", _flag),
    "case_sensitive": ("case_sensitive", _flag),
    "use_regex": ("use_regex", _flag),
    "priority": ("priority", _number),
    "position": ("position", _text),
}
_BOOK_FIELDS: dict[str, tuple[str, _Reader]] = {
    "name": ("name", _text),
    "description": ("description", _text),
    "scan_depth": ("scan_depth", _count),
    "token_budget": ("token_budget", _count),
    "recursive_scanning": ("recursive_scanning", _flag),
    "extensions": ("extensions", _dict),
}


def _read(data: Mapping[str, Any], fields: dict[str, tuple[str, _Reader]]) -> dict[str, Any]:
    """Keyword arguments for the known fields; unknown or ill-typed values go to `extras`."""
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in data.items():
        known = fields.get(key)
        parsed = known[1](value) if known else None
        if known is None or parsed is None:  # kept as it was, so export gives it back
            extras[key] = copy.deepcopy(value)
            continue
        values[known[0]] = parsed
    return {**values, "extras": extras}


def entry_from_card(data: Any) -> LoreEntry:
    """An entry from a card book's entry object (anything else becomes a disabled entry)."""
    if not isinstance(data, dict):
        return LoreEntry(enabled=False, extras={"value": copy.deepcopy(data)})
    return LoreEntry(**_read(data, _ENTRY_FIELDS))


def book_from_card_book(data: Mapping[str, Any]) -> Lorebook:
    """A book from a card's `character_book` or the `data` of a `lorebook_v3` file."""
    fields = _read({k: v for k, v in data.items() if k != "entries"}, _BOOK_FIELDS)
    entries = data.get("entries")
    if not isinstance(entries, list):
        entries = []
        if "entries" in data:
            fields["extras"]["entries"] = copy.deepcopy(data["entries"])
    return Lorebook(entries=tuple(entry_from_card(e) for e in entries), **fields)


def entry_to_card(entry: LoreEntry) -> dict[str, Any]:
    """The entry as a V2 card book entry object."""
    out: dict[str, Any] = {
        "keys": list(entry.keys),
        "content": entry.content,
        "extensions": copy.deepcopy(entry.extensions),
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
    }
    for key, (attribute, _) in _ENTRY_FIELDS.items():
        value = getattr(entry, attribute)
        if key not in out and value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    out.update(copy.deepcopy(entry.extras))
    return out


def export_card_book(book: Lorebook) -> dict[str, Any]:
    """The book as a V2 `character_book` object."""
    out: dict[str, Any] = {}
    for key, (attribute, _) in _BOOK_FIELDS.items():
        value = getattr(book, attribute)
        if value is not None:
            out[key] = copy.deepcopy(value)
    out.setdefault("extensions", {})
    out["entries"] = [entry_to_card(e) for e in book.entries]
    out.update(copy.deepcopy(book.extras))
    return out


def _entry_from_world_info(data: Mapping[str, Any]) -> LoreEntry:
    """A SillyTavern World Info entry, mapped the way SillyTavern writes it into a card."""
    extensions = _dict(data.get("extensions")) or {}
    card: dict[str, Any] = {}
    for key, value in data.items():
        if key in _ST_EXTENSIONS:
            extensions[_ST_EXTENSIONS[key]] = copy.deepcopy(value)
        elif key == "key":
            card["keys"] = value
        elif key == "keysecondary":
            card["secondary_keys"] = value
        elif key == "order":
            card["insertion_order"] = value
        elif key == "uid":
            card["id"] = value
        elif key == "disable":
            card["enabled"] = not value if isinstance(value, bool) else value
        elif key == "position":
            extensions["position"] = copy.deepcopy(value)
            card["position"] = "before_char" if value == 0 else "after_char"
        elif key in ("comment", "content", "constant", "selective"):
            card[key] = value
        elif key == WORLD_INFO_KEY:  # not a spec field: the entry keeps it in `extras`
            card[CARD_KEY] = value
        elif key != "extensions":  # fields SillyTavern's own export would drop: keep them
            extensions[key] = copy.deepcopy(value)
    # SillyTavern's defaults for fields an older file may not have.
    card.setdefault("selective", True)
    card.setdefault("insertion_order", DEFAULT_ORDER)
    card.setdefault("enabled", True)
    card["extensions"] = extensions
    return entry_from_card(card)


def book_from_world_info(data: Mapping[str, Any]) -> Lorebook:
    """A book from a SillyTavern World Info export (`entries` keyed by uid)."""
    raw = data.get("entries")
    entries = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    rest = {k: v for k, v in data.items() if k != "entries" and k not in _ST_BOOK_DROPPED}
    fields = _read(rest, _BOOK_FIELDS)
    # Unknown book fields of a World Info file belong to SillyTavern: keep them as extensions.
    extras = fields.pop("extras")
    extensions = {**extras, **(fields.pop("extensions", None) or {})}
    return Lorebook(
        entries=tuple(
            _entry_from_world_info(e) if isinstance(e, dict) else entry_from_card(e)
            for e in entries
        ),
        extensions=extensions,
        **fields,
    )
