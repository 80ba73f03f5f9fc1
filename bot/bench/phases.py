"""The overhead round phase by phase: wrappers that time what the director calls.

Each phase's time is exclusive (a phase leaves out the phases timed inside it), so the phases
of a round add up to the round; what no wrapper saw is `other`. The engine's own parts
(tokenizing, KV snapshots, decoding, streaming) come from `LlamaEngine.timings`, measured on
its worker thread; `worker_handoff` is what the engine call took beyond them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import fields
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import bot.director.director as director_module
import bot.director.prompting as prompting_module
from bot.director.budget import TokenCounter
from bot.director.types import DirectorEngine, StoredTurn, TurnHistory
from bot.domain import CancelToken, Role
from bot.engine.base import Completion, GenerationRequest
from bot.engine.llama import EngineTimings, LlamaEngine
from bot.prompts import Prompt

P = ParamSpec("P")
R = TypeVar("R")

MODEL_PHASE = "generation"
# In the order of a round; `other` is the rest of the round's wall time.
PHASES = (
    "store_player_turn",
    "scene_view",
    "history_read",
    "token_counting",
    "lore_activation",
    "prompt_build",
    "tokenize",
    "kv_snapshot",
    MODEL_PHASE,
    "stream",
    "worker_handoff",
    "impersonation_trim",
    "store_npc_turn",
    "other",
)
# The engine's parts: LlamaEngine.timings field -> phase.
_ENGINE_PARTS = {
    "tokenize_s": "tokenize",
    "kv_s": "kv_snapshot",
    "decode_s": MODEL_PHASE,
    "stream_s": "stream",
}


class PhaseClock:
    """Exclusive wall time per phase, for one task at a time (the bench's rounds are serial)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._inner: list[float] = []  # time spent in timed phases inside each open phase

    @contextlib.contextmanager
    def span(self, phase: str) -> Iterator[None]:
        """Time the block as `phase`, less the phases timed inside it."""
        started = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            inner = self._inner.pop()
            self.charge(phase, time.perf_counter() - started, inner)

    def charge(self, phase: str, seconds: float, inner: float = 0.0) -> None:
        """Add `seconds` (of which `inner` belongs to other phases) to `phase` and its parent."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds - inner
        if self._inner:
            self._inner[-1] += seconds

    def take(self, round_s: float) -> dict[str, float]:
        """This round's seconds per phase (every phase, `other` the rest); starts a new round."""
        taken = {phase: self.seconds.get(phase, 0.0) for phase in PHASES}
        taken["other"] = round_s - sum(v for k, v in taken.items() if k != "other")
        self.seconds = {}
        return taken


def _engine_delta(now: EngineTimings, before: EngineTimings) -> dict[str, float]:
    return {
        f.name: getattr(now, f.name) - getattr(before, f.name)
        for f in fields(EngineTimings)
        if isinstance(getattr(now, f.name), float)
    }


class TimedEngine:
    """The director's engine, with each generation split into the engine's parts."""

    def __init__(self, inner: DirectorEngine, llama: LlamaEngine, clock: PhaseClock) -> None:
        self.inner = inner
        self.llama = llama
        self.clock = clock

    @property
    def n_ctx(self) -> int:
        return self.inner.n_ctx

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return await self.inner.count_many(prompts)

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        before = EngineTimings(**vars(self.llama.timings))
        with self.clock.span("worker_handoff"):
            try:
                return await self.inner.complete(request, cancel, on_text)
            finally:
                delta = _engine_delta(self.llama.timings, before)
                for part, phase in _ENGINE_PARTS.items():
                    self.clock.charge(phase, delta[part])
                # The worker's time outside those parts (building the call, the finish).
                rest = delta["worker_s"] - sum(delta[part] for part in _ENGINE_PARTS)
                self.clock.charge("stream", rest)


class TimedTurns:
    """The director's turn store, with history reads and the NPC turn's store timed."""

    def __init__(self, inner: TurnHistory, clock: PhaseClock) -> None:
        self.inner = inner
        self.clock = clock

    async def lines(
        self,
        scene_id: int,
        limit: int,
        *,
        before_seq: int | None = None,
        witness: int | None = None,
    ) -> Sequence[StoredTurn]:
        with self.clock.span("history_read"):
            return await self.inner.lines(scene_id, limit, before_seq=before_seq, witness=witness)

    async def append(
        self,
        scene_id: int,
        *,
        role: Role,
        speaker: str,
        content: str,
        character_id: int | None = None,
        author_id: int | None = None,
        pending: bool = False,
        audience: Collection[int] | None = None,
    ) -> StoredTurn:
        with self.clock.span("store_npc_turn"):
            return await self.inner.append(
                scene_id,
                role=role,
                speaker=speaker,
                content=content,
                character_id=character_id,
                author_id=author_id,
                pending=pending,
                audience=audience,
            )

    async def add_swipe(self, turn_id: int, content: str) -> StoredTurn:
        return await self.inner.add_swipe(turn_id, content)

    async def edit(self, turn_id: int, content: str) -> StoredTurn:
        return await self.inner.edit(turn_id, content)


class TimedCounter(TokenCounter):
    """A token counter whose lookups (and the tokenizing of misses) count as token counting."""

    def __init__(self, inner: TokenCounter, clock: PhaseClock) -> None:
        super().__init__(inner.counts)  # every call goes to the shared counter and its cache
        self.clock = clock

    async def counts(self, blocks: Sequence[Prompt]) -> list[int]:
        with self.clock.span("token_counting"):
            return await self._count_many(list(blocks))


def timed_sync(clock: PhaseClock, phase: str, fn: Callable[P, R]) -> Callable[P, R]:
    def timed(*args: P.args, **kwargs: P.kwargs) -> R:
        with clock.span(phase):
            return fn(*args, **kwargs)

    return timed


def timed_async(clock: PhaseClock, phase: str, fn: Callable[P, Any]) -> Callable[P, Any]:
    async def timed(*args: P.args, **kwargs: P.kwargs) -> Any:
        with clock.span(phase):
            return await fn(*args, **kwargs)

    return timed


@contextlib.contextmanager
def timed_director_steps(clock: PhaseClock) -> Iterator[None]:
    """Time the director's steps that no port reaches: lore activation and the reply's trim.

    Swapped in on the director's modules for the bench's overhead rounds only, then restored.
    """
    swaps: list[tuple[ModuleType, str, Callable[..., Any]]] = [
        (prompting_module, "fired_lore", timed_async),
        (director_module, "clean_reply", timed_sync),
    ]
    phases = {"fired_lore": "lore_activation", "clean_reply": "impersonation_trim"}
    saved = [(module, name, getattr(module, name)) for module, name, _ in swaps]
    try:
        for module, name, wrap in swaps:
            setattr(module, name, wrap(clock, phases[name], getattr(module, name)))
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
