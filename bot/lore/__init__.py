"""Lorebooks: import and export, activation, and placement in the prompt."""

from .activation import LoreConfig, scan_lore
from .compiled import CompiledBook, LoreCache
from .convert import book_from_card_book, book_from_world_info, export_card_book
from .files import book_from_card, load_lorebook, parse_lore_json
from .limits import DEFAULT_LORE_LIMITS, LoreError, LoreLimits, check_book
from .model import Lorebook, LoreEntry
from .placement import (
    FiredEntry,
    LoreActivation,
    LoreSource,
    SceneLore,
    activate_lore,
    fit_budget,
)
from .reasons import Candidate, Why

__all__ = [
    "DEFAULT_LORE_LIMITS",
    "Candidate",
    "CompiledBook",
    "FiredEntry",
    "LoreActivation",
    "LoreCache",
    "LoreConfig",
    "LoreEntry",
    "LoreError",
    "LoreLimits",
    "LoreSource",
    "Lorebook",
    "SceneLore",
    "Why",
    "activate_lore",
    "book_from_card",
    "book_from_card_book",
    "book_from_world_info",
    "check_book",
    "export_card_book",
    "fit_budget",
    "load_lorebook",
    "parse_lore_json",
    "scan_lore",
]
