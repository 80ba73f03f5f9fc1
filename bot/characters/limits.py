"""Caps on imported cards and on roster sizes; the defaults are the settings' defaults."""

from __future__ import annotations

from dataclasses import dataclass

CARD_MAX_BYTES = 8 * 1024 * 1024  # an uploaded card file, PNG or JSON
CARD_JSON_MAX_BYTES = 256 * 1024
CARD_MAX_DEPTH = 64  # far deeper than any real card; deep nesting breaks export (recursion)
GREETING_MAX_CHARS = 6000  # three to four Discord messages; real greetings reach 4-5k
LORE_ENTRY_MAX_CHARS = 4000
LORE_MAX_ENTRIES = 2000  # entries in one lorebook (a card's or a server's)
MAX_CHARACTERS_PER_PLAYER = 25
MAX_NPCS_PER_SERVER = 200


@dataclass(frozen=True)
class CardLimits:
    """What one imported card may carry."""

    json_max_bytes: int = CARD_JSON_MAX_BYTES
    greeting_max_chars: int = GREETING_MAX_CHARS
    lore_entry_max_chars: int = LORE_ENTRY_MAX_CHARS
    lore_max_entries: int = LORE_MAX_ENTRIES
    max_depth: int = CARD_MAX_DEPTH


@dataclass(frozen=True)
class RosterLimits:
    """How many characters one player, and how many NPCs one server, may have."""

    characters_per_player: int = MAX_CHARACTERS_PER_PLAYER
    npcs_per_server: int = MAX_NPCS_PER_SERVER


DEFAULT_CARD_LIMITS = CardLimits()
DEFAULT_ROSTER_LIMITS = RosterLimits()


def size_text(size: int) -> str:
    """A byte count for messages: whole KiB when it is one, bytes otherwise."""
    return f"{size // 1024:,} KiB" if size % 1024 == 0 else f"{size:,} bytes"
