"""The card import error and its shared messages."""

from __future__ import annotations

from bot.characters.limits import size_text
from bot.errors import UserError

CORRUPT_PNG = "That PNG is corrupt or truncated."


class CardError(UserError, ValueError):
    """A card that cannot be imported; the message is shown to the user."""


def card_too_big(limit: int, size: int | None = None) -> CardError:
    """The error for card data over the stored-JSON cap, with its size when known."""
    found = f"{size_text(size)}; " if size is not None else ""
    return CardError(f"That card's data is too big ({found}the limit is {size_text(limit)}).")
