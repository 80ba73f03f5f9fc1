"""Caps on imported lorebooks, and the one-line error a user sees when a book breaks them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.characters.limits import CARD_MAX_DEPTH, LORE_ENTRY_MAX_CHARS, LORE_MAX_ENTRIES
from bot.errors import UserError

from .model import Lorebook

__all__ = [
    "LORE_JSON_MAX_BYTES",
    "LORE_MAX_ENTRIES",
    "LoreError",
    "LoreLimits",
    "check_book",
]

LORE_JSON_MAX_BYTES = 4 * 1024 * 1024  # a lorebook file; real books of a few hundred entries fit
KEYS_PER_ENTRY_MAX = 100  # each key costs a look-up on every prompt
KEY_MAX_CHARS = 500


class LoreError(UserError, ValueError):
    """A lorebook that cannot be imported or used; the message is one line for the user."""


@dataclass(frozen=True)
class LoreLimits:
    """What one lorebook may hold."""

    max_entries: int = LORE_MAX_ENTRIES
    entry_max_chars: int = LORE_ENTRY_MAX_CHARS
    json_max_bytes: int = LORE_JSON_MAX_BYTES
    max_depth: int = CARD_MAX_DEPTH
    keys_per_entry: int = KEYS_PER_ENTRY_MAX
    key_max_chars: int = KEY_MAX_CHARS


DEFAULT_LORE_LIMITS = LoreLimits()


def check_book(book: Lorebook, limits: LoreLimits = DEFAULT_LORE_LIMITS) -> Lorebook:
    """`book` if it is within the caps, else a LoreError naming the first problem."""
    if len(book.entries) > limits.max_entries:
        raise LoreError(
            f"That lorebook has too many entries ({len(book.entries):,}; "
            f"the limit is {limits.max_entries:,})."
        )
    for number, entry in enumerate(book.entries, 1):
        where = f"That lorebook's entry {number} ({entry.title})"
        if len(entry.content) > limits.entry_max_chars:
            raise LoreError(
                f"{where} is too long ({len(entry.content):,} characters; "
                f"the limit is {limits.entry_max_chars:,})."
            )
        keys = (*entry.keys, *(entry.secondary_keys or ()))
        if len(keys) > limits.keys_per_entry:
            raise LoreError(
                f"{where} has too many keys ({len(keys):,}; the limit is {limits.keys_per_entry})."
            )
        if any(len(key) > limits.key_max_chars for key in keys):
            raise LoreError(f"{where} has a key longer than {limits.key_max_chars} characters.")
    return book
