"""A scripted stand-in engine for fast control-flow tests (never for claims about model output)."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable, Iterable

from bot.engine.base import CancelToken, Completion, GenerationRequest, Prompt


def request_kind(request: GenerationRequest) -> str:
    """'speaker' (name grammar), 'floor' (role grammar) or 'text'."""
    if request.grammar is None:
        return "text"
    return "speaker" if request.grammar.rstrip().endswith('":"') else "floor"


class ScriptedEngine:
    """Answers each kind of request from its own queue; records every request."""

    def __init__(
        self,
        *,
        speakers: Iterable[str] = (),
        texts: Iterable[str] = (),
        floors: Iterable[str] = (),
        n_ctx: int = 4096,
    ) -> None:
        self.queues = {"speaker": deque(speakers), "text": deque(texts), "floor": deque(floors)}
        self.requests: list[GenerationRequest] = []
        # The rounds (one cancel token each) that have generated text: an unscripted floor
        # choice before a round's first turn lets an NPC answer, after a turn ends the round.
        self._spoken: weakref.WeakSet[CancelToken] = weakref.WeakSet()
        self._n_ctx = n_ctx
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return [len(p.text.split()) + 1 for p in prompts]

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        self.requests.append(request)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        kind = request_kind(request)
        queue = self.queues[kind]
        # With nothing scripted: the first NPC allowed (as a grammar-bound model would answer
        # with some allowed name), an NPC answering a post but the floor back to the players
        # after a turn, some text.
        first = request.choices[0] if request.choices else ""
        opening = cancel is None or cancel not in self._spoken
        floor = "model" if opening and kind == "floor" else "user"
        text = queue.popleft() if queue else {"speaker": first, "floor": floor, "text": "..."}[kind]
        if kind == "text" and cancel is not None:
            self._spoken.add(cancel)
        if "]" in request.stops and "]" in text:
            # Stopped at the `]`; the rest answers the next request, as a model would go on.
            text, rest = text.split("]", 1)
            queue.appendleft(rest)
        if on_text is not None and text:
            on_text(text)
        return Completion(text=text, finish_reason="stop")

    async def close(self) -> None:
        """Nothing to free (the composition root closes its engine)."""

    def of_kind(self, kind: str) -> list[GenerationRequest]:
        return [r for r in self.requests if request_kind(r) == kind]
