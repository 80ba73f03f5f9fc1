"""How much of a turn still being written may be shown: what the reply's clean-up will keep.

The director cleans a finished reply (`bot.director.text.clean_reply`): it trims it, drops the
speaker's own `Name:` at its start, and cuts it at the first line that starts another
character's `Name:` (after spaces and `*`, `_`, `"`, `'`). Generation itself stops at the
prompt's stop strings, and the engines hold back text that may still become one. So the text
streamed so far decides everything before its last line break, and the last line once it
can no longer become a name line; past that, only whole sentences are shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A sentence ends at `.`, `!`, `?` or `…`, its closing quotes, brackets and emphasis marks,
# and the white space after them (without it, `1.5`, `...` or `Mr.` may still go on).
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]*_~]*(?=\s)")
# What clean_reply skips at a line's start before it looks for a name.
_LINE_LEAD = "*_\"'"


def name_markers(speaker: str, others: Iterable[str]) -> tuple[str, ...]:
    """The `Name:` openings that cut a reply of `speaker` (as clean_reply builds them)."""
    return tuple(f"{name}:" for name in others if name and name != speaker)


def _line_fate(line: str, markers: tuple[str, ...]) -> bool | None:
    """True: `line` is cut as another character's; False: never, however it goes on;
    None: it may still become one."""
    start = line.lstrip().lstrip(_LINE_LEAD)
    if not markers:
        return False
    if start.startswith(markers):
        return True
    if not start or any(marker.startswith(start) for marker in markers):
        return None
    return False


def _body(raw: str, speaker: str) -> str | None:
    """`raw` without its leading space and the speaker's own `Name:`; None while undecided."""
    body = raw.lstrip()
    own = f"{speaker}:"
    if own.startswith(body):  # nothing yet, or it may still be the speaker's own name
        return None
    if body.startswith(own):
        body = body[len(own) :].lstrip()
    return body


def visible_prefix(raw: str, speaker: str, others: Iterable[str]) -> str:
    """The part of `raw` (a reply so far) that its clean-up keeps whatever comes next, up to
    its last complete line or sentence; a prefix of the reply as it will be stored."""
    body = _body(raw, speaker)
    if not body:
        return ""
    markers = name_markers(speaker, others)
    *complete, last = body.split("\n")
    shown: list[str] = []
    for line in complete:
        if _line_fate(line, markers):
            return "\n".join(shown).rstrip()
        shown.append(line)
    if _line_fate(last, markers) is False:
        ends = [match.end() for match in _SENTENCE_END.finditer(last)]
        if ends:
            shown.append(last[: ends[-1]])
    return "\n".join(shown).rstrip()
