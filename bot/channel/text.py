"""Discord text rules: message length, webhook names, name mentions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.names import plain_name

MESSAGE_LIMIT = 2000
# What Discord itself refuses in webhook names, on top of the name rule.
_STRIPPED_FROM_NAMES = re.compile(r"[@#]|```")
_RESERVED_IN_NAMES = re.compile(r"(?i)discord|clyde")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]*_]*\s+")


def _pieces_at(text: str, limit: int) -> tuple[str, str]:
    """Split off a head no longer than `limit`, preferring paragraph, line, sentence, word."""
    window = text[:limit]
    for cut in (window.rfind("\n\n"), window.rfind("\n")):
        if cut > limit // 3:
            return text[:cut].rstrip(), text[cut:].lstrip()
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] > limit // 3:
        return text[: ends[-1]].rstrip(), text[ends[-1] :].lstrip()
    cut = window.rfind(" ")
    if cut > limit // 3:
        return text[:cut].rstrip(), text[cut:].lstrip()
    return text[:limit], text[limit:]


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split text into Discord-sized messages at paragraph or sentence boundaries."""
    rest = text.strip()
    parts: list[str] = []
    while len(rest) > limit:
        head, rest = _pieces_at(rest, limit)
        parts.append(head)
    if rest or not parts:
        parts.append(rest)
    return parts


def webhook_username(name: str) -> str:
    """The plain name as Discord accepts it for a webhook message (1–80, no reserved words)."""
    cleaned = " ".join(_STRIPPED_FROM_NAMES.sub("", plain_name(name)).split())
    # A zero-width space keeps the reserved words readable while Discord accepts them.
    cleaned = _RESERVED_IN_NAMES.sub(lambda m: f"{m.group(0)[0]}\u200b{m.group(0)[1:]}", cleaned)
    if cleaned.lower() in {"everyone", "here", ""}:
        cleaned = f"{cleaned or 'NPC'}\u200b"
    return cleaned[:80]


def mentioned_names(content: str, names: Iterable[str]) -> tuple[str, ...]:
    """The `names` the message mentions as whole words (case-insensitive), in the order named.

    A name inside a longer one mentioned at the same place ("Tobin" in "Old Tobin") is not a
    mention of its own.
    """
    matches = sorted(
        (match.start(), -len(match.group(0)), name)
        for name in names
        for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", content, re.IGNORECASE)
    )
    found: list[str] = []
    taken_until = -1
    for start, negative_length, name in matches:
        if start < taken_until:
            continue  # inside a longer name's mention
        taken_until = start - negative_length
        if name not in found:
            found.append(name)
    return tuple(found)
