"""The engine interface every text-generation backend implements."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.domain import CancelToken, Sampler
from bot.errors import UserError
from bot.prompts.segments import Prompt

__all__ = [
    "CancelToken",
    "Completion",
    "EngineError",
    "FinishReason",
    "GenerationRequest",
    "Prompt",
    "RemoteError",
    "Sampler",
    "TextEngine",
]

FinishReason = Literal["stop", "length", "cancelled"]


class EngineError(UserError, RuntimeError):
    """The model could not be loaded or could not generate."""


class RemoteError(EngineError):
    """A model server is down, busy, slow or failing; `notice` is the line for a channel."""

    # The message names the server (log, terminal); the notice names nothing (Discord).

    def __init__(self, message: str, notice: str | None = None) -> None:
        super().__init__(message)
        self.notice = notice or message


@dataclass(frozen=True)
class GenerationRequest:
    """A raw completion: the prompt is sent exactly as given (no chat template).

    A constrained request carries both forms of its constraint: `grammar` (GBNF) for servers
    that take one, and `choices`, the exact answers allowed, for those that take a list or a
    JSON schema instead.
    """

    prompt: Prompt
    sampler: Sampler = field(default_factory=Sampler)
    stops: tuple[str, ...] = ()
    grammar: str | None = None
    channel: str | None = None
    choices: tuple[str, ...] = ()
    backend: str | None = None  # a named backend of the settings; None: the default engine


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


Complete = Callable[
    [GenerationRequest, CancelToken, Callable[[str], None] | None], Awaitable[Completion]
]


async def stream_via_complete(
    complete: Complete, request: GenerationRequest, cancel: CancelToken | None
) -> AsyncIterator[str]:
    """`complete` as an async iterator of text pieces; leaving the loop early cancels it."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    token = cancel or CancelToken()
    loop = asyncio.get_running_loop()

    def push(piece: str) -> None:
        # Thread-safe: the in-process engine calls back from its worker thread.
        loop.call_soon_threadsafe(queue.put_nowait, piece)

    task = asyncio.ensure_future(complete(request, token, push))
    task.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
    try:
        while (piece := await queue.get()) is not None:
            yield piece
        await task
    finally:
        if not task.done():
            token.cancel()
            with contextlib.suppress(asyncio.CancelledError, EngineError):
                await task
