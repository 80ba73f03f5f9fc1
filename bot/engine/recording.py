"""An engine wrapper that keeps every request with its completion (bench replays, tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.engine.base import CancelToken, Completion, GenerationRequest, Prompt, TextEngine


@dataclass(frozen=True)
class Call:
    """One request and what the engine answered."""

    request: GenerationRequest
    completion: Completion


class RecordingEngine:
    """Delegates to a real engine and records each call."""

    def __init__(self, engine: TextEngine) -> None:
        self.engine = engine
        self.calls: list[Call] = []

    @property
    def n_ctx(self) -> int:
        return self.engine.n_ctx

    @property
    def requests(self) -> list[GenerationRequest]:
        return [call.request for call in self.calls]

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return await self.engine.count_many(prompts)

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        completion = await self.engine.complete(request, cancel, on_text)
        self.calls.append(Call(request, completion))
        return completion
