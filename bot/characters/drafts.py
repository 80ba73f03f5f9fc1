"""Turning user input (sheet text or a card file) into a character ready to store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bot.characters.cards import load_card
from bot.characters.limits import DEFAULT_CARD_LIMITS, CardLimits
from bot.characters.sheet import Sheet, SheetError, parse_sheet, render_sheet
from bot.domain import NAME_MAX


@dataclass(frozen=True)
class CharacterDraft:
    """A validated character: canonical sheet text plus what a card brought along."""

    name: str
    sheet: str
    greeting: str | None = None
    scenario: str | None = None
    card_json: dict[str, Any] | None = None


def clean_name(name: str) -> str:
    """A character name trimmed and checked against the storage limits."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise SheetError("A character needs a name.")
    if len(cleaned) > NAME_MAX:
        raise SheetError(f"Names are limited to {NAME_MAX} characters.")
    if ":" in cleaned or cleaned.startswith(("/", "((")):
        raise SheetError("Names cannot contain ':' or start with '/' or '(('.")
    return cleaned


def _finish(sheet: Sheet, name: str | None) -> tuple[str, str]:
    final = clean_name(name or sheet.name or "")
    sheet.set("Character Name", final)
    return final, render_sheet(sheet)


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
    final, rendered = _finish(parse_sheet(text), name)
    return CharacterDraft(final, rendered, greeting=_greeting(greeting, limits))


def draft_from_card(
    data: bytes,
    filename: str | None = None,
    name: str | None = None,
    limits: CardLimits = DEFAULT_CARD_LIMITS,
) -> CharacterDraft:
    """A draft from a V1/V2/V3 card file (PNG or JSON); CPU-bound, see `draft_from_card_async`."""
    card = load_card(data, filename, limits)
    final, rendered = _finish(card.sheet, name or card.name)
    return CharacterDraft(final, rendered, card.greeting, card.scenario, card.raw)


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
    return CharacterDraft(*_finish(Sheet([]), name))
