"""Lorebook files: SillyTavern World Info, V3 `lorebook_v3`, bare card books, or whole cards."""

from __future__ import annotations

import dataclasses
import json
from pathlib import PurePath
from typing import Any

from bot.characters.card_json import depth_exceeds
from bot.characters.cards import CardError, load_card
from bot.characters.limits import CardLimits

from .convert import book_from_card_book, book_from_world_info
from .limits import DEFAULT_LORE_LIMITS, LoreError, LoreLimits, check_book
from .model import Lorebook

__all__ = ["book_from_card", "load_lorebook", "parse_lore_json"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CARD_SPECS = ("chara_card_v2", "chara_card_v3")


def parse_lore_json(raw: bytes, limits: LoreLimits = DEFAULT_LORE_LIMITS) -> dict[str, Any]:
    """Decode a JSON object within the size and nesting caps."""
    if len(raw) > limits.json_max_bytes:
        raise LoreError(
            f"That lorebook file is too big ({len(raw):,} bytes; "
            f"the limit is {limits.json_max_bytes:,})."
        )
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise LoreError("That lorebook file is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise LoreError(f"That lorebook file is not valid JSON (line {exc.lineno}).") from None
    except ValueError:  # an integer past Python's digit limit for conversions
        raise LoreError("That lorebook file holds a number too long to read.") from None
    except RecursionError:
        data = None  # nested past json's own limit: reported as too deep below
    if data is None or depth_exceeds(data, limits.max_depth):
        raise LoreError(f"That lorebook is nested too deeply (the limit is {limits.max_depth}).")
    if not isinstance(data, dict):
        raise LoreError("That lorebook file must hold a JSON object.")
    return data


def book_from_card(card: dict[str, Any]) -> Lorebook | None:
    """The `character_book` of a V1/V2/V3 card object, if it has one."""
    data = card.get("data") if card.get("spec") in _CARD_SPECS else card
    book = data.get("character_book") if isinstance(data, dict) else None
    return book_from_card_book(book) if isinstance(book, dict) else None


def _detect(data: dict[str, Any]) -> Lorebook:
    """The book in a decoded file, whichever of the known shapes it has."""
    if data.get("spec") == "lorebook_v3":
        inner = data.get("data")
        if not isinstance(inner, dict):
            raise LoreError("That lorebook_v3 file has no 'data' object.")
        return book_from_card_book(inner)
    entries = data.get("entries")
    if isinstance(entries, dict):
        return book_from_world_info(data)
    if isinstance(entries, list):
        return book_from_card_book(data)
    book = book_from_card(data)
    if book is None:
        raise LoreError(
            "That file is not a lorebook: expected SillyTavern World Info, a lorebook_v3 file "
            "or a character card with a character_book."
        )
    return book


def load_lorebook(
    raw: bytes, filename: str | None = None, limits: LoreLimits = DEFAULT_LORE_LIMITS
) -> Lorebook:
    """A lorebook from file bytes (JSON, or a PNG card), named after the file if it has no name."""
    if raw.startswith(_PNG_MAGIC):
        try:
            card = load_card(
                raw,
                filename,
                CardLimits(lore_entry_max_chars=limits.entry_max_chars, max_depth=limits.max_depth),
            ).raw
        except CardError as exc:
            raise LoreError(str(exc)) from None
        book = book_from_card(card)
        if book is None:
            raise LoreError("That character card has no character_book.")
    else:
        book = _detect(parse_lore_json(raw, limits))
    if not book.name and filename:
        book = dataclasses.replace(book, name=PurePath(filename).stem)
    return check_book(book, limits)
