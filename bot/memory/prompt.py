"""The summariser's own prompt: our instruction and the old turns as plain text."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import LoreInsert, PromptContext
from bot.prompts import Prompt, PromptFormat
from bot.prompts.formats import SUMMARY_SPEAKER
from bot.store.models import SECRET_KINDS

INSTRUCTION = (
    "You keep the notes of an ongoing roleplay. Rewrite the story so far so that it also "
    "covers the new events below: who is who, what happened, what was promised, owed or "
    "discovered, and what is still unresolved. Write plain prose in the past tense, at most "
    "{words} words, and nothing but the notes."
)
# The reply opens with this, so a model starts the prose instead of closing the block at once.
LEAD = "Earlier,"
PRIVATELY = "(in private)"
LINE_MAX_CHARS = 1500  # one very long post never crowds the others out of the request
_NO_ONE = PromptContext(players=(), npcs=())


def said_by(speaker: str, kind: str) -> str:
    """The speaker as a summary reads it: a whisper or a tell is marked as said in private.

    Only an NPC's own story reads such turns; the mark lets it keep them as its secrets.
    """
    return f"{speaker} {PRIVATELY}" if kind in SECRET_KINDS else speaker


def transcript(lines: Sequence[tuple[str, str]]) -> str:
    """The old turns as "Name: text" lines, each cut to a bounded length."""
    return "\n".join(f"{speaker}: {text[:LINE_MAX_CHARS]}" for speaker, text in lines)


def summary_request(
    fmt: PromptFormat, previous: str | None, lines: Sequence[tuple[str, str]], words: int
) -> Prompt:
    """Instruction block, material block (the summary so far and the new events), header.

    Only the format's markers are trusted; the material is model, player and GM text.
    """
    material = f"{SUMMARY_SPEAKER}: {previous}\n\n" if previous else ""
    material += "New events:\n" + transcript(lines)
    blocks = (
        fmt.lore_block(LoreInsert(0, "system", INSTRUCTION.format(words=words))),
        fmt.lore_block(LoreInsert(0, "user", material)),
        fmt.response_header(_NO_ONE) + f"{SUMMARY_SPEAKER}: {LEAD}",
    )
    return Prompt.join(fmt.separator, blocks)


def summary_stops(fmt: PromptFormat) -> tuple[str, ...]:
    """Stop at any block marker: the summary is one block."""
    return tuple(fmt.stop_strings(_NO_ONE))


def tidy_summary(text: str, cut_off: bool) -> str:
    """The summary (the lead and the reply), whitespace collapsed, ending at a sentence if cut."""
    if not text.strip():
        return ""
    text = " ".join(f"{LEAD}{text}".split())
    if cut_off:
        end = max(text.rfind(mark) for mark in (". ", "! ", "? "))
        if text[-1:] in ".!?":
            end = len(text) - 1
        text = text[: end + 1] if end > 0 else text
    return text.strip()
