"""Turning user input (sheet text or a card file) into a character ready to store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bot.characters.cards import CardError, load_card
from bot.characters.limits import DEFAULT_CARD_LIMITS, CardLimits
from bot.characters.sheet import Sheet, SheetError, parse_sheet, render_sheet
from bot.domain import Voice
from bot.lore import LoreError, LoreLimits, book_from_card, check_book
from bot.names import NameRuleError, checked_name, plain_name


@dataclass(frozen=True)
class CharacterDraft:
    """A validated character: canonical sheet text plus what a card brought along."""

    name: str
    sheet: str
    greeting: str | None = None
    scenario: str | None = None
    card_json: dict[str, Any] | None = None
    voice: Voice | None = None  # None: the input says nothing of a voice (a sheet)


def typed_name(name: str) -> str:
    """A name someone typed (an option, a form, a sheet): the name rule, or a `SheetError`."""
    try:
        return checked_name(name)
    except NameRuleError as exc:
        raise SheetError(str(exc)) from None


def _finish(sheet: Sheet, name: str) -> tuple[str, str]:
    sheet.set("Character Name", name)
    return name, render_sheet(sheet)


def _card_name(given: str | None, from_card: str) -> str:
    """A typed name is checked; a card's own name is cleaned, since nobody typed it here."""
    if given:
        return typed_name(given)
    cleaned = plain_name(from_card)
    if not cleaned:
        raise CardError("That card's name has no usable characters; give a name.")
    return cleaned


def _greeting(text: str | None, limits: CardLimits) -> str | None:
    """A greeting trimmed and checked against its cap."""
    greeting = (text or "").strip()
    if len(greeting) > limits.greeting_max_chars:
        raise SheetError(
            f"That greeting is too long ({len(greeting):,} characters; "
            f"the limit is {limits.greeting_max_chars:,})."
        )
    return greeting or None


def draft_from_sheet(
    text: str,
    name: str | None = None,
    greeting: str | None = None,
    limits: CardLimits = DEFAULT_CARD_LIMITS,
) -> CharacterDraft:
    """A draft from sheet text; `name` wins over the sheet's Character Name."""
    sheet = parse_sheet(text)
    final, rendered = _finish(sheet, typed_name(name or sheet.name or ""))
    return CharacterDraft(final, rendered, greeting=_greeting(greeting, limits))


def _check_card_book(card: dict[str, Any], limits: CardLimits) -> None:
    """Refuse a card whose `character_book` breaks a lorebook cap (regex keys, sticky, ...)."""
    book = book_from_card(card)
    if book is None:
        return
    lore_limits = LoreLimits(
        max_entries=limits.lore_max_entries,
        entry_max_chars=limits.lore_entry_max_chars,
        max_depth=limits.max_depth,
    )
    try:
        check_book(book, lore_limits)
    except LoreError as exc:
        raise CardError(str(exc).replace("That lorebook", "That card's lorebook", 1)) from None


def draft_from_card(
    data: bytes,
    filename: str | None = None,
    name: str | None = None,
    limits: CardLimits = DEFAULT_CARD_LIMITS,
) -> CharacterDraft:
    """A draft from a V1/V2/V3 card file (PNG or JSON); CPU-bound, see `draft_from_card_async`."""
    card = load_card(data, filename, limits)
    _check_card_book(card.raw, limits)
    final, rendered = _finish(card.sheet, _card_name(name, card.name))
    return CharacterDraft(final, rendered, card.greeting, card.scenario, card.raw, card.voice)


async def draft_from_card_async(
    data: bytes,
    filename: str | None = None,
    name: str | None = None,
    limits: CardLimits = DEFAULT_CARD_LIMITS,
) -> CharacterDraft:
    """`draft_from_card` in a worker thread, so a big card never stalls the event loop."""
    return await asyncio.to_thread(draft_from_card, data, filename, name, limits)


def draft_from_name(name: str) -> CharacterDraft:
    """A character with nothing but a name (a sheet can be added later)."""
    return CharacterDraft(*_finish(Sheet([]), typed_name(name)))
