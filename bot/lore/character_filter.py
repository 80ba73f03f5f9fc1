"""Entries limited to some characters: SillyTavern's character filter, read, written and typed.

SillyTavern writes the filter as `{"isExclude": bool, "names": [...], "tags": [...]}`: at the top
of a World Info entry as `characterFilter`, at the top of a card book entry as `character_filter`.
An include filter puts the entry only in the named characters' prompts, an exclude filter in every
prompt but theirs; a filter with no names admits everyone. Names match the speaker's name with
the speaker name rule applied and casefolded. Tags name SillyTavern's own character tags, which
mean nothing here: they are kept so that export gives them back, and never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import UserError
from bot.names import plain_name

__all__ = [
    "CARD_KEY",
    "CLEAR_WORD",
    "EXTENSION_KEYS",
    "FILTER_NAMES_MAX",
    "FILTER_NAME_MAX_CHARS",
    "WORLD_INFO_KEY",
    "CharacterFilter",
    "FilterInputError",
    "filter_json",
    "filter_shape_problem",
    "fold",
    "names_from_list",
    "names_from_text",
    "read_filter",
]

CARD_KEY = "character_filter"  # a card book entry's field, and SillyTavern's export's
WORLD_INFO_KEY = "characterFilter"  # a World Info entry's field
# Where else a filter may sit: other tools write it into the card entry's `extensions`, and a
# World Info file imported before filters were read kept it there under its own name.
EXTENSION_KEYS = (CARD_KEY, WORLD_INFO_KEY)
# Caps: each name is folded when a book is compiled and compared on every prompt. A cast is far
# smaller; SillyTavern names characters by their avatar file, which may be longer than a name.
FILTER_NAMES_MAX = 100
FILTER_NAME_MAX_CHARS = 200
CLEAR_WORD = "everyone"  # what a GM types to lift the limit (a slash option cannot be empty)


class FilterInputError(UserError, ValueError):
    """A list of characters a GM or a scene file wrote that cannot be read; one line."""


def fold(name: str) -> str:
    """The form names are compared in: the speaker name rule, then casefolded."""
    return plain_name(name, limit=None).casefold()


@dataclass(frozen=True, slots=True)
class CharacterFilter:
    """The characters an entry is limited to (or kept from, with `exclude`)."""

    names: tuple[str, ...]  # as written, for reports
    exclude: bool
    folded: tuple[str, ...]  # compared on every prompt: a tuple, which the collector skips

    @classmethod
    def of(cls, names: Sequence[str], exclude: bool = False) -> CharacterFilter | None:
        """The filter of `names` (blank ones dropped); None when none is left: no limit."""
        kept = [n.strip() for n in names if n.strip()]
        if not kept:
            return None
        return cls(tuple(kept), exclude, tuple(dict.fromkeys(fold(n) for n in kept)))

    def admits(self, speaker: str | None) -> bool:
        """Whether the entry may go into `speaker`'s prompt (None: a prompt nobody speaks in)."""
        return self.admits_folded(None if speaker is None else fold(speaker))

    def admits_folded(self, speaker: str | None) -> bool:
        """`admits` for a speaker name already folded (once per prompt, not once per entry)."""
        if speaker is None:  # no one to be limited to, and no one to keep it from
            return self.exclude
        return (speaker in self.folded) is not self.exclude

    def text(self) -> str:
        """The filter as `/lore edit characters:` takes it: `Mara, Rook` or `!Mara, Rook`."""
        return ("!" if self.exclude else "") + ", ".join(self.names)

    def describe(self) -> str:
        """For GMs: `only for Mara, Rook` or `not for Mara`."""
        return ("not for " if self.exclude else "only for ") + ", ".join(self.names)


def read_filter(raw: Any) -> CharacterFilter | None:
    """The filter in a SillyTavern filter object, within the caps; None when it limits nothing.

    A file past the caps is refused at import (`bot.lore.limits`); this clamps what was stored
    before. An `isExclude` that is not `true` reads as an include filter: the narrower reading.
    """
    if not isinstance(raw, dict):
        return None
    names = raw.get("names")
    if not isinstance(names, list):
        return None
    texts = [n[:FILTER_NAME_MAX_CHARS] for n in names[:FILTER_NAMES_MAX] if isinstance(n, str)]
    return CharacterFilter.of(texts, raw.get("isExclude") is True)


def filter_shape_problem(raw: Any) -> str | None:
    """What is wrong with a filter object's shape, for a one-line error; None if nothing."""
    if not isinstance(raw, dict):
        return "is not an object"
    names = raw.get("names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        return "has names that are not a list of text"
    if raw.get("isExclude") is not None and not isinstance(raw.get("isExclude"), bool):
        return "has an isExclude that is not true or false"
    return None


def filter_json(names: Sequence[str], exclude: bool, previous: Any = None) -> dict[str, Any]:
    """A SillyTavern filter object for `names`; the previous one's tags and fields are kept."""
    base = dict(previous) if isinstance(previous, dict) else {}
    tags = base.get("tags")
    return {**base, "isExclude": exclude, "names": list(names), "tags": tags or []}


def names_from_list(items: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """(names, exclude) from names that may start with `!`: before the first, or before each.

    A filter either limits an entry to its names or keeps it from them, never both, so `!` on
    some names but not the first is refused rather than guessed at.
    """
    names = [n.strip() for n in items if n.strip()]
    marked = [n.startswith("!") for n in names]
    if any(marked[1:]) and not all(marked):
        raise FilterInputError(
            "Put ! once, before the first name, to keep the entry from every character listed "
            "(an entry is either limited to its characters or kept from them)."
        )
    bare = [n.removeprefix("!").strip() for n in names]
    if not all(bare):
        raise FilterInputError("A ! needs a character's name after it.")
    return tuple(dict.fromkeys(bare)), bool(marked and marked[0])


def names_from_text(text: str) -> tuple[tuple[str, ...], bool]:
    """(names, exclude) from comma-separated text; empty or `everyone` gives no names."""
    if text.strip().casefold() in ("", CLEAR_WORD):
        return (), False
    return names_from_list(text.split(","))
