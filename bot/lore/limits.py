"""Caps on imported lorebooks, and the one-line error a user sees when a book breaks them.

Every number a file sets that could make each prompt cost more is capped here, and a file past a
cap is refused at import. Numbers that cost nothing (`delay`, `depth`, `order`, `probability`,
clamped to 0-100) or that activation bounds on its own (`scan_depth`, 64 turns; `cooldown`,
replayed over 32 prompts at most) are read as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.characters.limits import CARD_MAX_DEPTH, LORE_ENTRY_MAX_CHARS, LORE_MAX_ENTRIES
from bot.errors import UserError

from .character_filter import FILTER_NAME_MAX_CHARS, FILTER_NAMES_MAX, filter_shape_problem
from .keys import REGEX_REPEAT_MAX, is_regex_key, regex_source, regex_too_big
from .model import GROUP_WEIGHT_MAX, GROUPS_MAX, STICKY_MAX, Lorebook, LoreEntry

__all__ = [
    "KEYS_PER_BOOK_MAX",
    "LORE_JSON_MAX_BYTES",
    "LORE_MAX_ENTRIES",
    "REGEX_KEYS_MAX",
    "LoreError",
    "LoreLimits",
    "check_book",
    "check_entry",
    "check_totals",
]

LORE_JSON_MAX_BYTES = 4 * 1024 * 1024  # a lorebook file; real books of a few hundred entries fit
KEYS_PER_ENTRY_MAX = 100  # each key costs a look-up on every prompt
KEY_MAX_CHARS = 500
KEYS_PER_BOOK_MAX = 20_000  # keys in one book: each is indexed, and looked up on every prompt
REGEX_KEYS_MAX = 100  # regex keys in one book: each one is searched on every prompt


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
    keys_per_book: int = KEYS_PER_BOOK_MAX
    regex_keys: int = REGEX_KEYS_MAX
    filter_names: int = FILTER_NAMES_MAX  # characters one entry is limited to or kept from
    filter_name_chars: int = FILTER_NAME_MAX_CHARS


DEFAULT_LORE_LIMITS = LoreLimits()


def _amount(value: Any) -> str:
    """A number for a message; a huge one is not spelled out."""
    return f"{value:,}" if abs(value) < 10**12 else "an enormous number"


def _over(value: Any, cap: int) -> bool:
    """Whether a JSON value is a number past `cap` (any size of integer included)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > cap


def _regex_keys(entry: LoreEntry) -> list[str]:
    """The entry's keys that are matched as regular expressions."""
    keys = (k.strip() for k in (*entry.keys, *(entry.secondary_keys or ())))
    return [k for k in keys if k and (entry.use_regex or is_regex_key(k))]


def _check_numbers(entry: LoreEntry, where: str) -> None:
    """The entry's sticky and inclusion groups within their caps."""
    sticky = entry.extensions.get("sticky")
    if _over(sticky, STICKY_MAX):
        raise LoreError(
            f"{where} stays in too long (sticky {_amount(sticky)}; "
            f"the limit is {STICKY_MAX} turns)."
        )
    group = entry.extensions.get("group")
    groups = {g.strip() for g in group.split(",") if g.strip()} if isinstance(group, str) else ()
    if len(groups) > GROUPS_MAX:
        raise LoreError(
            f"{where} is in too many inclusion groups ({len(groups):,}; the limit is {GROUPS_MAX})."
        )
    weight = entry.extensions.get("group_weight")
    if _over(weight, GROUP_WEIGHT_MAX):
        raise LoreError(
            f"{where} has too large a group weight ({_amount(weight)}; "
            f"the limit is {GROUP_WEIGHT_MAX:,})."
        )


def _check_filter(entry: LoreEntry, where: str, limits: LoreLimits) -> None:
    """The entry's character filter readable and within its caps."""
    raw = entry.filter_data
    if raw is None:
        return
    problem = filter_shape_problem(raw)
    if problem is not None:
        # Read any other way, a filter meant to keep an entry from someone could let it through.
        raise LoreError(f"{where} has a character filter that {problem}.")
    names = raw.get("names") or []
    if len(names) > limits.filter_names:
        raise LoreError(
            f"{where} is limited to too many characters ({len(names):,}; "
            f"the limit is {limits.filter_names})."
        )
    if any(len(name) > limits.filter_name_chars for name in names):
        raise LoreError(
            f"{where} names a character longer than {limits.filter_name_chars} characters."
        )


def _check_regexes(entry: LoreEntry, where: str) -> None:
    """No regex key of the entry could blow up when compiled."""
    for key in _regex_keys(entry):
        source = regex_source(key, bare=True, case_sensitive=entry.matches_case)
        if source is not None and regex_too_big(source[0]):
            raise LoreError(
                f"{where} has a regex key with too many repeats (counted repeats multiply "
                f"past {REGEX_REPEAT_MAX:,})."
            )


def check_entry(
    entry: LoreEntry, where: str = "That entry", limits: LoreLimits = DEFAULT_LORE_LIMITS
) -> None:
    """Nothing if the entry is within the caps, else a LoreError starting with `where`."""
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
    _check_numbers(entry, where)
    _check_filter(entry, where, limits)
    _check_regexes(entry, where)


def check_totals(entries: Sequence[LoreEntry], limits: LoreLimits = DEFAULT_LORE_LIMITS) -> None:
    """The book's keys and regex keys within their caps (each entry is checked on its own)."""
    keys = sum(len(e.keys) + len(e.secondary_keys or ()) for e in entries)
    if keys > limits.keys_per_book:
        raise LoreError(
            f"That lorebook has too many keys ({keys:,}; the limit is {limits.keys_per_book:,})."
        )
    regexes = {key for entry in entries for key in _regex_keys(entry)}
    if len(regexes) > limits.regex_keys:
        raise LoreError(
            f"That lorebook has too many regex keys ({len(regexes):,}; "
            f"the limit is {limits.regex_keys:,})."
        )


def check_book(book: Lorebook, limits: LoreLimits = DEFAULT_LORE_LIMITS) -> Lorebook:
    """`book` if it is within the caps, else a LoreError naming the first problem."""
    if len(book.entries) > limits.max_entries:
        raise LoreError(
            f"That lorebook has too many entries ({len(book.entries):,}; "
            f"the limit is {limits.max_entries:,})."
        )
    for number, entry in enumerate(book.entries, 1):
        check_entry(entry, f"That lorebook's entry {number} ({entry.title})", limits)
    check_totals(book.entries, limits)
    return book
