"""Card macros: `{{char}}` and `{{user}}` (and the legacy `<BOT>`/`<CHAR>`/`<USER>`) resolved.

One resolver for every text a card or lorebook brings: sheets, greetings, scenarios and lore
entries. Matching is case-insensitive, as the V3 spec asks. Unknown macros stay as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["join_names", "resolve_macros", "user_value"]

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


def resolve_macros(text: str, *, char: str, user: str) -> str:
    """`text` with `{{char}}`/`<BOT>`/`<CHAR>` as `char` and `{{user}}`/`<USER>` as `user`."""
    if "{" not in text and "<" not in text:  # the common case: nothing to resolve
        return text
    return _MACRO.sub(
        lambda m: user if (m.group(1) or m.group(2)).lower() in _USER_WORDS else char, text
    )
