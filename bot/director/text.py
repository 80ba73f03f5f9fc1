"""Small text helpers for the director: grammars and reply clean-up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.domain import Sampler
from bot.engine.base import GenerationRequest
from bot.prompts.segments import Prompt


def gbnf_literal(text: str) -> str:
    """A GBNF string literal for `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def choice_grammar(options: Iterable[str], suffix: str = "") -> str:
    """A grammar that accepts exactly one of `options`, followed by `suffix`."""
    alternatives = " | ".join(gbnf_literal(o) for o in options)
    tail = f" {gbnf_literal(suffix)}" if suffix else ""
    return f"root ::= ({alternatives}){tail}\n"


def choice_request(
    prompt: Prompt, sampler: Sampler, channel: str, options: Sequence[str], suffix: str = ""
) -> GenerationRequest:
    """A request whose answer must be one of `options` + `suffix`: as a grammar and as a list."""
    return GenerationRequest(
        prompt=prompt,
        sampler=sampler,
        grammar=choice_grammar(options, suffix),
        channel=channel,
        choices=tuple(f"{option}{suffix}" for option in options),
    )


def clean_reply(text: str, speaker: str, other_names: Iterable[str]) -> str:
    """Trim a generated reply and cut it where it starts writing another character's line."""
    body = text.strip()
    own = f"{speaker}:"
    if body.startswith(own):
        body = body[len(own) :].lstrip()
    markers = tuple(f"{name}:" for name in other_names if name and name != speaker)
    kept: list[str] = []
    for line in body.split("\n"):
        if markers and line.lstrip().lstrip("*_\"'").startswith(markers):
            break
        kept.append(line)
    return "\n".join(kept).strip()
