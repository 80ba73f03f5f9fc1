"""Card macros: `{{char}}` and `{{user}}` (and the legacy `<BOT>`/`<CHAR>`/`<USER>`) resolved.

One resolver for every text a card or lorebook brings: sheets, greetings, scenarios and lore
entries. Matching is case-insensitive, as the V3 spec asks. Unknown macros stay as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MacroCount", "count_macros", "join_names", "resolve_macros", "user_value"]

_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(bot|char|user)>", re.IGNORECASE)
_USER_WORDS = frozenset({"user"})


def join_names(names: Sequence[str]) -> str:
    """Join names as "A", "A and B" or "A, B and C"."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def user_value(players: Sequence[str]) -> str:
    """What `{{user}}` stands for in a scene: its players joined, or "you" when there are none."""
    return join_names(players) or "you"


@dataclass(frozen=True, slots=True)
class MacroCount:
    """A text's length without its macros, and how many of each kind it holds."""

    plain: int
    chars: int = 0
    users: int = 0

    def length(self, *, char: str, user: str) -> int:
        """The length of the text once its macros are resolved, without resolving them."""
        return self.plain + self.chars * len(char) + self.users * len(user)


def count_macros(text: str) -> MacroCount:
    """What resolving `text` would put where, so its size is known before anything is built."""
    if "{" not in text and "<" not in text:
        return MacroCount(len(text))
    chars = users = taken = 0
    for match in _MACRO.finditer(text):
        taken += match.end() - match.start()
        if (match.group(1) or match.group(2)).lower() in _USER_WORDS:
            users += 1
        else:
            chars += 1
    return MacroCount(len(text) - taken, chars, users)


def resolve_macros(text: str, *, char: str, user: str) -> str:
    """`text` with `{{char}}`/`<BOT>`/`<CHAR>` as `char` and `{{user}}`/`<USER>` as `user`."""
    if "{" not in text and "<" not in text:  # the common case: nothing to resolve
        return text
    return _MACRO.sub(
        lambda m: user if (m.group(1) or m.group(2)).lower() in _USER_WORDS else char, text
    )
