"""The overhead figure: a full round against a bare `Llama` completion, phase by phase."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from bot.bench.phases import (
    PhaseClock,
    TimedCounter,
    TimedEngine,
    TimedTurns,
    timed_async,
    timed_director_steps,
)
from bot.director import TurnDirector
from bot.engine.base import EngineError, Prompt, Sampler
from bot.engine.state_cache import Snapshot, common_prefix

if TYPE_CHECKING:
    from bot.bench.channels import BenchChannels, Channel
    from bot.core import Core
    from bot.engine.llama import LlamaEngine
    from bot.engine.recording import RecordingEngine
    from bot.engine.state_cache import ChannelStateCache


class _Notes(Protocol):
    notes: list[str]


class ModelBench(Protocol):
    """What the overhead rounds use of the model bench (a protocol: the bench imports this)."""

    core: Core
    engine: LlamaEngine
    cache: ChannelStateCache
    sampler: Sampler
    recorder: RecordingEngine
    director: TurnDirector
    channels: BenchChannels

    @property
    def figures(self) -> _Notes: ...


@dataclass
class Pair:
    """One round and the bare completion of the same prompt and tokens."""

    round_s: float
    bare_s: float
    round_tokens: int
    bare_tokens: int
    phases: dict[str, float]


def timed_director(bench: ModelBench, clock: PhaseClock) -> TurnDirector:
    """A director like the bench's, with every port it calls timed on `clock`."""
    director = TurnDirector(
        TimedEngine(bench.recorder, bench.engine, clock),
        TimedTurns(bench.core.stores.turns, clock),
        counter=TimedCounter(bench.director.counter, clock),
    )
    # An instance attribute over the method: this director's prompt builds only.
    build = timed_async(clock, "prompt_build", director.prompts.build)
    setattr(director.prompts, "build", build)  # noqa: B010 (mypy refuses assigning a method)
    return director


async def overhead_pairs(
    bench: ModelBench, channel: Channel, repeats: int, tokens: int
) -> list[Pair]:
    """`repeats` rounds in `channel`, each followed by its bare replay from the same state."""
    sampler = replace(bench.sampler, max_tokens=tokens)
    clock = PhaseClock()
    director = timed_director(bench, clock)
    pairs: list[Pair] = []
    with timed_director_steps(clock):
        for _ in range(repeats):
            before: Snapshot | None = await bench.engine.run_on_worker(bench.cache.capture)
            if before is None:
                raise EngineError("the context is empty before the overhead round")
            pair = await _pair(bench, channel, director, clock, sampler, before)
            if pair is not None:
                pairs.append(pair)
    return pairs


async def _pair(
    bench: ModelBench,
    channel: Channel,
    director: TurnDirector,
    clock: PhaseClock,
    sampler: Sampler,
    before: Snapshot,
) -> Pair | None:
    speaker = channel.npc().name
    seen = len(bench.recorder.requests)
    clock.take(0.0)  # nothing from before the round
    started = time.perf_counter()
    with clock.span("store_player_turn"):
        await bench.channels.say(channel)
    with clock.span("scene_view"):
        view = await bench.core.views.view(channel.scene)
    view = replace(view, sampler=sampler, max_replies=1)
    result = await director.run_round(view, forced=speaker)
    round_s = time.perf_counter() - started
    phases = clock.take(round_s)
    channel.rounds += 1
    requests = bench.recorder.requests[seen:]
    if len(requests) != 1 or not result.turns:
        bench.figures.notes.append("an overhead round was retried or empty; skipped")
        return None
    bare_s, round_tokens, bare_tokens = await bench.engine.run_on_worker(
        _bare, bench, before, requests[0].prompt, sampler
    )
    return Pair(round_s, bare_s, round_tokens, bare_tokens, phases)


def _bare(
    bench: ModelBench, before: Snapshot, prompt: Prompt, sampler: Sampler
) -> tuple[float, int, int]:
    """Replay the round's prompt on the bare `Llama`, from the state the round started in."""
    llm = bench.engine.llm
    tokens = bench.engine.tokenize_sync(prompt, True)
    if common_prefix(llm.input_ids[: llm.n_tokens], tokens) != len(tokens):
        raise EngineError("the context does not hold the round's prompt")
    # generate() leaves the last sampled token unevaluated: n_tokens = prompt + k - 1.
    generated = int(llm.n_tokens) - len(tokens) + 1
    if not bench.cache.restore(before):
        raise EngineError("could not restore the state before the round")
    started = time.perf_counter()
    llm.create_completion(
        tokens,
        max_tokens=generated,
        temperature=sampler.temperature,
        min_p=sampler.min_p,
        top_p=sampler.top_p,
        top_k=0,
        repeat_penalty=sampler.repeat_penalty,
        seed=sampler.seed if sampler.seed >= 0 else None,
    )
    seconds = time.perf_counter() - started
    return seconds, generated, int(llm.n_tokens) - len(tokens) + 1
