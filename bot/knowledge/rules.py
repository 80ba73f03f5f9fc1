"""What whispers and tells may hold, and how the terminal finds whom a whisper is for."""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import UserError

# A whisper and its answer are shown together in one private Discord message of 2,000.
WHISPER_MAX_CHARS = 1000
TELL_MAX_CHARS = 4000


class KnowledgeError(UserError):
    """A whisper, tell or presence change that cannot be done as asked."""


def checked_text(text: str | None, limit: int, what: str) -> str:
    """`text` stripped; refused when empty or longer than `limit`."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise KnowledgeError(f"{what} is empty.")
    if len(cleaned) > limit:
        raise KnowledgeError(f"{what} is limited to {limit:,} characters.")
    return cleaned


def split_addressee(text: str, names: Sequence[str]) -> tuple[str, str]:
    """`Old Tom psst, over here` → (`Old Tom`, `psst, over here`) when Old Tom is one of `names`.

    The longest name the text starts with (as a whole word, any case) wins, so names with
    spaces need no quotes; otherwise the first word is the name (and then refused by name).
    """
    stripped = text.strip()
    for name in sorted(names, key=len, reverse=True):
        head, rest = stripped[: len(name)], stripped[len(name) :]
        if head.casefold() == name.casefold() and (not rest or rest[0].isspace()):
            return head, rest.strip()
    first, _, rest = stripped.partition(" ")
    return first, rest.strip()
