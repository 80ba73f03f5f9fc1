"""Card JSON parsed within the caps: stored size, nesting depth, greetings and lore entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from bot.characters.errors import CardError, card_too_big
from bot.characters.limits import CardLimits


def _too_deep(limits: CardLimits) -> CardError:
    return CardError(f"That card is nested too deeply (the limit is {limits.max_depth} levels).")


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether lists/objects nest deeper than `limit`; iterative, so depth cannot overflow."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_card_json(raw: bytes, limits: CardLimits) -> dict[str, Any]:
    """Decode UTF-8 JSON that must be an object within the size and depth caps."""
    if len(raw) > limits.json_max_bytes:
        raise card_too_big(limits.json_max_bytes, len(raw))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CardError("The card data is not valid UTF-8 text.") from None
    try:
        card = json.loads(text)
    except json.JSONDecodeError:
        raise CardError("The card data is not valid JSON.") from None
    except ValueError:  # an integer past Python's digit limit for conversions
        raise CardError("The card data holds a number too long to read.") from None
    except RecursionError:  # json gives up near 1,000 levels, far past our own cap
        raise _too_deep(limits) from None
    if not isinstance(card, dict):
        raise CardError("The card JSON must be an object.")
    if depth_exceeds(card, limits.max_depth):
        raise _too_deep(limits)
    return card


def _strings(value: Any) -> Iterator[str]:
    """The strings of a list field; anything else holds none."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _check_greetings(fields: dict[str, Any], limit: int) -> None:
    greetings = [("greeting", fields.get("first_mes"))]
    for key in ("alternate_greetings", "group_only_greetings"):
        label = key.replace("_", " ").removesuffix("s")
        greetings += [(f"{label} {i}", text) for i, text in enumerate(_strings(fields.get(key)), 1)]
    for label, text in greetings:
        if isinstance(text, str) and len(text.strip()) > limit:
            raise CardError(
                f"That card's {label} is too long ({len(text.strip()):,} characters; "
                f"the limit is {limit:,})."
            )


def _lore_entries(fields: dict[str, Any]) -> list[Any]:
    book = fields.get("character_book")
    entries = book.get("entries") if isinstance(book, dict) else None
    return entries if isinstance(entries, list) else []


def _check_lore(fields: dict[str, Any], limit: int, max_entries: int) -> None:
    entries = _lore_entries(fields)
    if len(entries) > max_entries:
        raise CardError(
            f"That card's lorebook has too many entries ({len(entries):,}; "
            f"the limit is {max_entries:,})."
        )
    for number, entry in enumerate(entries, 1):
        content = entry.get("content") if isinstance(entry, dict) else None
        if isinstance(content, str) and len(content) > limit:
            raise CardError(
                f"That card's lorebook entry {number} is too long ({len(content):,} characters; "
                f"the limit is {limit:,})."
            )


def check_card_fields(fields: dict[str, Any], limits: CardLimits) -> None:
    """Refuse greetings and lorebook entries over their caps."""
    _check_greetings(fields, limits.greeting_max_chars)
    _check_lore(fields, limits.lore_entry_max_chars, limits.lore_max_entries)


GREETING_VERSIONS_MAX = 25  # swipes of one greeting; a card may list hundreds


def greeting_versions(
    greeting: str | None, card: dict[str, Any] | None, *, group: bool
) -> list[str]:
    """An NPC's greeting and its alternatives, in swipe order, without repeats.

    A scene with several characters opens with the card's group-only greetings (V3), then the
    main one; `alternate_greetings` (V2) follow in every scene.
    """
    fields = card.get("data") if isinstance(card, dict) else None
    fields = fields if isinstance(fields, dict) else {}
    group_only = list(_strings(fields.get("group_only_greetings"))) if group else []
    versions = [*group_only, greeting or "", *_strings(fields.get("alternate_greetings"))]
    kept = dict.fromkeys(text.strip() for text in versions if text.strip())
    return list(kept)[:GREETING_VERSIONS_MAX]
