"""The engine interface every text-generation backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.domain import CancelToken, Sampler
from bot.prompts.segments import Prompt

__all__ = [
    "CancelToken",
    "Completion",
    "EngineError",
    "FinishReason",
    "GenerationRequest",
    "Prompt",
    "Sampler",
    "TextEngine",
]

FinishReason = Literal["stop", "length", "cancelled"]


class EngineError(RuntimeError):
    """The model could not be loaded or could not generate."""


@dataclass(frozen=True)
class GenerationRequest:
    """A raw completion: the prompt is sent exactly as given (no chat template)."""

    prompt: Prompt
    sampler: Sampler = field(default_factory=Sampler)
    stops: tuple[str, ...] = ()
    grammar: str | None = None
    channel: str | None = None


@dataclass
class Completion:
    """What a finished (or cancelled) generation produced."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    generated_tokens: int = 0
    first_token_seconds: float | None = None
    total_seconds: float = 0.0


class TextEngine(Protocol):
    """One model backend: in-process llama.cpp, or a remote completion server."""

    name: str

    @property
    def n_ctx(self) -> int: ...

    async def tokenize(self, prompt: Prompt) -> list[int]:
        """The ids the model receives: markers with special tokens parsed, other text plain."""
        ...

    async def count_tokens(self, prompt: Prompt) -> int: ...

    async def count_many(self, prompts: list[Prompt]) -> list[int]: ...

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> AsyncIterator[str]: ...

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion: ...

    async def close(self) -> None: ...
