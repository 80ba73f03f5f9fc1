"""The one rule every speaker name passes before it reaches a prompt, a stop string or a webhook.

A name is written into prompts as `\\n{Name}:` and becomes a stop string, so it must never carry
a line break, a `:` or a prompt-format marker (docs/architecture.md, "Untrusted text").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.domain import NAME_MAX
from bot.errors import UserError
from bot.prompts.segments import TOKEN_MARKERS

PLAYER_FALLBACK = "Player"
# Every marker the prompt defuses in text, and `###` anywhere: a name has no place for them.
_MARKERS = re.compile(TOKEN_MARKERS + r"|#{3,}", re.IGNORECASE)
# A leading `#` run would make `\n### Name:` an Alpaca header; `/` and `((` open commands and
# out-of-character notes.
_LEADING = re.compile(r"^(?:[#\s]+|/+|\(\(+)+")
_BREAKS = frozenset("\n\r\t\v\f\x85\u2028\u2029")
# Control, format (zero-width, bidi overrides: a name that looks like another) and surrogates.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


class NameRuleError(UserError, ValueError):
    """A typed name the rule would change; the message says why, in one line."""


def _without_controls(text: str) -> str:
    """Line breaks become spaces; other control and format characters go."""
    return "".join(
        " " if char in _BREAKS else char
        for char in text
        if char in _BREAKS or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )


def _one_pass(text: str) -> str:
    text = _without_controls(unicodedata.normalize("NFKC", text)).replace(":", "")
    return _LEADING.sub("", " ".join(_MARKERS.sub(" ", text).split()))


def _cleaned(raw: str) -> str:
    """The rule without the length cap."""
    text = raw
    # Removing a `:` or a control character can complete a marker (`<|im_st:art|>`), so repeat;
    # after the first pass every change makes the text shorter, so this ends.
    while (again := _one_pass(text)) != text:
        text = again
    return text


# Every round cleans the speaker name of each turn in its window: the same few names again.
@lru_cache(maxsize=4096)
def plain_name(raw: str, limit: int | None = NAME_MAX) -> str:
    """The name with the rule applied, cut to `limit`; empty when nothing usable is left."""
    cleaned = _cleaned(raw)
    return cleaned if limit is None else cleaned[:limit].rstrip()


def speaker_name(raw: str, fallback: str = PLAYER_FALLBACK) -> str:
    """A name taken as it comes (display, proxy and card names): cleaned, else the fallback."""
    return plain_name(raw) or fallback


def checked_name(raw: str) -> str:
    """A name someone typed: accepted when the rule leaves it as it is, else a clear error."""
    typed = re.sub(" {2,}", " ", unicodedata.normalize("NFC", raw).strip())
    if not typed:
        raise NameRuleError("A character needs a name.")
    cleaned = plain_name(raw, limit=None)
    if cleaned != typed:
        hint = f' (try "{cleaned[:NAME_MAX].rstrip()}")' if cleaned else ""
        raise NameRuleError(
            "Names cannot contain ':', line breaks, control characters or prompt markers "
            f"([INST], <|im_start|>, <s>…), nor start with '#', '/' or '(('{hint}."
        )
    if len(cleaned) > NAME_MAX:
        raise NameRuleError(f"Names are limited to {NAME_MAX} characters.")
    return cleaned
