"""One generation's streamed pieces added up into a `Completion`, the same way for every engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.engine.base import Completion, FinishReason

__all__ = ["CompletionBuilder", "Piece", "finish_reason"]


@dataclass(frozen=True)
class Piece:
    """One streamed part of an answer; the last one carries the finish reason and counts."""

    text: str = ""
    finish: FinishReason | None = None
    prompt_tokens: int | None = None
    generated_tokens: int | None = None

    @property
    def is_token(self) -> bool:
        """Whether the model generated a token for this piece."""
        # A token may bring no text (it is held back as part of a stop string), so only a
        # last piece with nothing but the finish reason is not one.
        return bool(self.text) or self.finish is None


def finish_reason(reason: str | None) -> FinishReason | None:
    """A server's finish reason as ours: None while generating, "length" at the limit."""
    if reason is None:
        return None
    return "length" if reason == "length" else "stop"


class CompletionBuilder:
    """Adds up one generation: its text, its token counts and when its first token came.

    The generated-token count is the number of token pieces, unless the last piece reports
    the server's own count; `prompt_tokens` is the engine's count unless the last piece
    reports the server's. The clock starts when the builder is made.
    """

    def __init__(
        self,
        on_text: Callable[[str], None] | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._on_text = on_text
        self._clock = clock
        self._started = clock()
        self.prompt_tokens = 0
        self._parts: list[str] = []
        self._first_token: float | None = None
        self._tokens = 0
        self._reported_tokens: int | None = None
        self._finish: FinishReason = "stop"

    def add(self, piece: Piece) -> None:
        """Take the next streamed piece, passing its text on as it comes."""
        if piece.is_token:
            self._tokens += 1
            if self._first_token is None:
                self._first_token = self._clock() - self._started
        if piece.text:
            self._parts.append(piece.text)
            if self._on_text is not None:
                self._on_text(piece.text)
        if piece.finish is not None:
            self._finish = piece.finish
            self._reported_tokens = piece.generated_tokens
            if piece.prompt_tokens is not None:
                self.prompt_tokens = piece.prompt_tokens

    def cancel(self) -> None:
        """The generation was stopped before its end."""
        self._finish = "cancelled"

    def completion(self) -> Completion:
        """What the pieces so far add up to."""
        reported = self._reported_tokens
        return Completion(
            text="".join(self._parts),
            finish_reason=self._finish,
            prompt_tokens=self.prompt_tokens,
            generated_tokens=self._tokens if reported is None else reported,
            first_token_seconds=self._first_token,
            total_seconds=self._clock() - self._started,
        )
