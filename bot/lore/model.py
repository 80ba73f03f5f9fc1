"""Lorebooks and their entries, shaped like a V2/V3 `character_book`.

Fields the V2/V3 spec names are attributes; what SillyTavern adds lives, as in SillyTavern's own
card export, in the entry's `extensions` (`position` as a number, `depth`, `role`,
`selectiveLogic`, `sticky`, `scan_depth`, ...), read through the properties below; its
character filter sits at the top of a card entry, so it is kept in `extras`. Optional
spec fields stay `None` when a file left them out and anything unknown is kept in `extras`, so
import and export round-trip without losing or inventing a field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .character_filter import CARD_KEY, EXTENSION_KEYS, CharacterFilter, read_filter

__all__ = [
    "DEFAULT_DEPTH",
    "DEFAULT_ORDER",
    "GROUPS_MAX",
    "GROUP_WEIGHT_MAX",
    "LOGICS",
    "ROLES",
    "STICKY_MAX",
    "Logic",
    "LoreEntry",
    "Lorebook",
    "Placement",
    "Role",
]

Placement = Literal["before_char", "after_char", "at_depth", "outlet"]
Logic = Literal["and_any", "not_all", "not_any", "and_all"]
Role = Literal["system", "user", "assistant"]

LOGICS: tuple[Logic, ...] = ("and_any", "not_all", "not_any", "and_all")  # SillyTavern's 0..3
ROLES: tuple[Role, ...] = ("system", "user", "assistant")  # SillyTavern's 0..2
DEFAULT_DEPTH = 4  # SillyTavern's default for "at depth" entries (and its Author's Note)
DEFAULT_ORDER = 100  # SillyTavern's default `order`
# Caps on numbers a file sets: import refuses a file past them, and a book stored before they
# existed is read within them.
STICKY_MAX = 32  # prompts an entry stays in: each one is an activation replayed on every prompt
GROUPS_MAX = 16  # inclusion groups of one entry: every prompt settles each group it is in
GROUP_WEIGHT_MAX = 1_000_000  # a group's draw sums its weights, and the sum must stay finite
# SillyTavern's numeric positions: 0 before and 1 after the character definitions, 2/3 the top
# and bottom of the Author's Note (itself at depth 4), 4 at depth, 5/6 around the example
# messages (which follow the character definitions), 7 a named outlet placed only by a macro.
_ST_POSITIONS: dict[int, Placement] = {
    0: "before_char",
    1: "after_char",
    2: "at_depth",
    3: "at_depth",
    4: "at_depth",
    5: "after_char",
    6: "after_char",
    7: "outlet",
}


def _number(value: Any) -> float | None:
    """A finite JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits: no float holds it
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    """A non-negative whole number from a JSON number, else None."""
    number = _number(value)
    return int(number) if number is not None and number >= 0 else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class LoreEntry:
    """One lore entry: keys that trigger it, the content it adds, and how and where."""

    keys: tuple[str, ...] = ()
    content: str = ""
    enabled: bool = True
    insertion_order: float = DEFAULT_ORDER
    extensions: dict[str, Any] = field(default_factory=dict, hash=False)
    uid: int | str | None = None  # `id` in a card book, `uid` in SillyTavern
    name: str | None = None
    comment: str | None = None
    secondary_keys: tuple[str, ...] | None = None
    selective: bool | None = None
    constant: bool | None = None
    case_sensitive: bool | None = None
    use_regex: bool | None = None
    priority: float | None = None
    position: str | None = None  # "before_char" / "after_char" as the spec spells it
    extras: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def title(self) -> str:
        """A short label for lists and reports: the name, the comment, or the first key."""
        for text in (self.name, self.comment, *self.keys):
            if text and text.strip():
                return " ".join(text.split())[:80]
        return f"entry {self.uid}" if self.uid is not None else "untitled entry"

    @property
    def placement(self) -> Placement:
        """Where the content goes; SillyTavern's numeric position wins, as it does there."""
        st_position = _count(self.extensions.get("position"))
        if st_position is not None:
            return _ST_POSITIONS.get(st_position, "after_char")
        # The spec leaves a missing position open; SillyTavern reads it as after_char.
        return "before_char" if self.position == "before_char" else "after_char"

    @property
    def depth(self) -> int:
        """How many turns from the end an at-depth entry goes (0: after the newest turn)."""
        if _count(self.extensions.get("position")) in (2, 3):  # around the Author's Note
            return DEFAULT_DEPTH
        depth = _count(self.extensions.get("depth"))
        return DEFAULT_DEPTH if depth is None else depth

    @property
    def role(self) -> Role:
        """The role an at-depth block is written as."""
        role = self.extensions.get("role")
        if isinstance(role, str) and role in ROLES:
            return role
        index = _count(role)
        return ROLES[index] if index is not None and index < len(ROLES) else "system"

    @property
    def logic(self) -> Logic:
        """How the secondary keys combine with a primary match."""
        logic = self.extensions.get("selectiveLogic")
        lowered = logic.lower() if isinstance(logic, str) else None
        if lowered in LOGICS:
            return lowered
        index = _count(logic)
        return LOGICS[index] if index is not None and index < len(LOGICS) else "and_any"

    @property
    def needs_secondary(self) -> bool:
        """Whether the secondary keys take part (`selective` with at least one key)."""
        return bool(self.selective) and any(k.strip() for k in self.secondary_keys or ())

    @property
    def matches_case(self) -> bool:
        """Keys match case-sensitively (default: no)."""
        flag = self.case_sensitive
        if flag is None:
            flag = _flag(self.extensions.get("case_sensitive"))
        return bool(flag)

    @property
    def whole_words(self) -> bool:
        """Keys match whole words only (default: yes)."""
        flag = _flag(self.extensions.get("match_whole_words"))
        return True if flag is None else flag

    @property
    def scan_depth(self) -> int | None:
        """This entry's own scan depth, overriding the book's."""
        return _count(self.extensions.get("scan_depth"))

    @property
    def sticky(self) -> int | None:
        """Turns this entry stays in after it last fired, overriding the default (capped)."""
        sticky = _count(self.extensions.get("sticky"))
        return None if sticky is None else min(sticky, STICKY_MAX)

    @property
    def prevent_recursion(self) -> bool:
        """This entry's content never triggers other entries."""
        return bool(_flag(self.extensions.get("prevent_recursion")))

    @property
    def exclude_recursion(self) -> bool:
        """This entry is never triggered by other entries' content."""
        return bool(_flag(self.extensions.get("exclude_recursion")))

    @property
    def chance(self) -> float:
        """Percent chance the entry goes in when it fires (SillyTavern's `probability`)."""
        if _flag(self.extensions.get("useProbability")) is False:
            return 100.0
        percent = _number(self.extensions.get("probability"))
        return 100.0 if percent is None else min(100.0, max(0.0, percent))

    @property
    def cooldown(self) -> int | None:
        """Turns after its activation ends in which the entry cannot fire again."""
        return _count(self.extensions.get("cooldown"))

    @property
    def delay(self) -> int | None:
        """How many turns the scene must have before the entry can fire."""
        return _count(self.extensions.get("delay"))

    @property
    def groups(self) -> tuple[str, ...]:
        """Inclusion groups: of the entries of one group that fire, only one goes in."""
        group = self.extensions.get("group")
        if not isinstance(group, str):
            return ()
        return tuple(dict.fromkeys(g.strip() for g in group.split(",") if g.strip()))[:GROUPS_MAX]

    @property
    def group_override(self) -> bool:
        """In its groups this entry wins over unprioritised ones, by insertion order."""
        return bool(_flag(self.extensions.get("group_override")))

    @property
    def group_weight(self) -> float:
        """This entry's weight in the draw among its group's entries (default 100)."""
        weight = _number(self.extensions.get("group_weight"))
        return 100.0 if weight is None else min(GROUP_WEIGHT_MAX, max(0.0, weight))

    @property
    def filter_data(self) -> Any:
        """The character filter object as the file wrote it, wherever it sits; None if none."""
        found = self.extras.get(CARD_KEY)
        for key in EXTENSION_KEYS:
            if found is not None:
                break
            found = self.extensions.get(key)
        return found

    @property
    def characters(self) -> CharacterFilter | None:
        """The characters the entry is limited to or kept from; None: every prompt may have it."""
        return read_filter(self.filter_data)

    @property
    def drop_rank(self) -> tuple[float, float]:
        """Budget order: the lowest priority goes first, then the lowest insertion order."""
        return (self.priority if self.priority is not None else 0.0, self.insertion_order)


@dataclass(frozen=True)
class Lorebook:
    """A named set of entries with the book-wide scanning settings."""

    entries: tuple[LoreEntry, ...] = ()
    name: str | None = None
    description: str | None = None
    scan_depth: int | None = None
    token_budget: int | None = None
    recursive_scanning: bool | None = None
    extensions: dict[str, Any] = field(default_factory=dict, hash=False)
    extras: dict[str, Any] = field(default_factory=dict, hash=False)
