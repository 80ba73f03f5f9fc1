"""Prompt text in segments: a format's own markers kept apart from everything else.

Only marker segments may become control tokens: backends tokenize them with special-token
parsing and every other segment as plain text. Plain text is also *defused*: any marker of any
known format inside it gets an invisible word joiner, so it cannot forge a block even on a
backend that only takes text. Stored text is never changed; defusing happens here, at render
(see "Untrusted text" in docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import regex

__all__ = ["JOINER", "TOKEN_MARKERS", "Prompt", "Segment", "defuse"]

JOINER = "\u2060"  # WORD JOINER: invisible, and no tokenizer merges it into a marker

# Markers of the three formats and of the other templates a model may have been tuned on:
# special-token spellings (<|im_start|>, <|eot_id|>, DeepSeek's full-width bars, <s>, Gemma's
# turns), Mistral/Llama-2 brackets. Names (bot.names) remove these; text here breaks them.
TOKEN_MARKERS = (
    r"<[|\uff5c][^<>]{0,64}?[|\uff5c]>"
    r"|</?s>|<(?:start|end)_of_turn>|<</?SYS>>|<(?:bos|eos|pad|unk)>"
    r"|\[/?(?:INST|SYS|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]"
)
# Every line break str.splitlines() knows, from Unicode's own classes: the mandatory breaks of
# UAX #14 (LF, CR, NEL, VT, FF, U+2028, U+2029) and the paragraph separators (U+001C-U+001E).
_LINE_BREAK = (
    r"[\p{Line_Break=BK}\p{Line_Break=CR}\p{Line_Break=LF}\p{Line_Break=NL}\p{Bidi_Class=B}]"
)
# What may stand between a line break and a header and still leave the header at the line's
# start: Unicode white space (every Zs, tabs, the breaks), what str.isspace() adds (U+001F), and
# default-ignorable characters (U+200B, U+FEFF, U+00AD …), which render as nothing at all.
_BLANK = r"[\s\p{Bidi_Class=B}\p{Bidi_Class=S}\p{Default_Ignorable_Code_Point}]"
# Alpaca section headers ("### Response:") are plain text and count only at a line start; a
# segment starts one. The lookahead first keeps the look back to where a header could begin,
# so hostile runs of breaks and spaces cost linear time.
_LINE_START_HEADER = rf"(?=###)(?<=(?:\A|{_LINE_BREAK}){_BLANK}*)#{{3,}}"
_MARKERS = regex.compile(TOKEN_MARKERS + "|" + _LINE_START_HEADER, regex.IGNORECASE)


def defuse(text: str) -> str:
    """`text` with every known prompt marker broken by an invisible joiner after its first char."""
    return _MARKERS.sub(lambda m: _break(m.group()), text)


def _break(marker: str) -> str:
    """`marker` with the joiner after its first character."""
    return f"{marker[0]}{JOINER}{marker[1:]}"


@dataclass(frozen=True)
class Segment:
    """A run of prompt text; `special` only for a format's own markers."""

    text: str
    special: bool = False


@dataclass(frozen=True)
class Prompt:
    """Prompt text as segments; adjacent plain segments are merged and defused as one."""

    segments: tuple[Segment, ...] = ()

    @classmethod
    def plain(cls, text: str) -> Prompt:
        """Untrusted or template text: never a control token, markers defused."""
        return cls((Segment(defuse(text)),) if text else ())

    @classmethod
    def special(cls, text: str) -> Prompt:
        """A format's own marker (or a whole prompt an admin wrote): special tokens parsed."""
        return cls((Segment(text, special=True),) if text else ())

    @property
    def text(self) -> str:
        """The prompt as one string."""
        return "".join(s.text for s in self.segments)

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.segments)

    def __add__(self, other: Prompt | str) -> Prompt:
        return Prompt.concat((self, other))

    def __radd__(self, other: str) -> Prompt:
        return Prompt.concat((other, self))

    @staticmethod
    def concat(parts: Iterable[Prompt | str]) -> Prompt:
        """`parts` end to end; `str` parts are plain text."""
        segments: list[Segment] = []
        run: list[str] = []  # plain text waiting to be merged and defused as one

        def flush() -> None:
            # Defused as one: a marker split across two pieces would otherwise survive the join.
            if run:
                segments.append(Segment(defuse("".join(run))))
                run.clear()

        for part in parts:
            for segment in (Segment(part),) if isinstance(part, str) else part.segments:
                if segment.special:
                    flush()
                    segments.append(segment)
                elif segment.text:
                    run.append(segment.text)
        flush()
        return Prompt(tuple(segments))

    @staticmethod
    def join(separator: Prompt | str, parts: Iterable[Prompt | str]) -> Prompt:
        """Join `parts` with `separator`, like `str.join`."""
        pieces: list[Prompt | str] = []
        for index, part in enumerate(parts):
            if index:
                pieces.append(separator)
            pieces.append(part)
        return Prompt.concat(pieces)
