"""Remote figures on llama-server: the bot's overhead, parallel channels, warm vs cold.

Each figure sets the bot beside the server itself on the same prompts, in one run: a
director round against the same request sent straight to `/completion`, four channels'
rounds at once against one after another (and the server's own figure for that), and the
first token of a warm channel against the same channel with its slot erased.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from statistics import median

from bot.bench.channels import BenchChannels, Channel
from bot.bench.report import paired_ratio
from bot.core import Core
from bot.director import RoundHooks, RoundResult
from bot.domain import Sampler
from bot.engine.base import EngineError, GenerationRequest
from bot.engine.remote.http import decode
from bot.engine.remote.llama_server import LlamaServerEngine

Note = Callable[[str], None]
Runner = Callable[[list[Awaitable[object]]], Awaitable[None]]
# Rounds run twice (in turn, at once) must sample alike; a fixed seed of the admin's wins.
BENCH_SEED = 1234


@dataclass(frozen=True)
class RemoteSizes:
    """How much the remote bench does."""

    history_tokens: int
    warm_history_tokens: int
    reply_tokens: int
    repeats: int


REMOTE_FULL = RemoteSizes(history_tokens=1000, warm_history_tokens=3000, reply_tokens=32, repeats=5)
REMOTE_QUICK = RemoteSizes(history_tokens=250, warm_history_tokens=600, reply_tokens=12, repeats=2)


@dataclass
class RemoteFigures:
    """Raw samples; the report turns them into medians and ratios."""

    round_s: list[float] = field(default_factory=list)
    direct_s: list[float] = field(default_factory=list)
    parallel_s: list[float] = field(default_factory=list)
    serial_s: list[float] = field(default_factory=list)
    server_parallel_s: list[float] = field(default_factory=list)
    server_serial_s: list[float] = field(default_factory=list)
    warm_ttft_s: list[float] = field(default_factory=list)
    cold_ttft_s: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, float | None]:
        """Each figure's median of paired ratios (every repeat measures both sides)."""
        return {
            "remote_overhead_ratio": paired_ratio(self.round_s, self.direct_s),
            "parallel_ratio": paired_ratio(self.parallel_s, self.serial_s),
            "server_parallel_ratio": paired_ratio(self.server_parallel_s, self.server_serial_s),
            "remote_warm_ratio": paired_ratio(self.warm_ttft_s, self.cold_ttft_s),
        }


async def _timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


class RemoteBench:
    """The remote figures over one core whose engine is a llama-server."""

    def __init__(self, core: Core, sizes: RemoteSizes, sampler: Sampler, note: Note) -> None:
        if not isinstance(core.engine, LlamaServerEngine):
            raise EngineError("the remote bench measures llama-server: set BACKEND=llama-server")
        self.core, self.engine, self.sizes, self.note = core, core.engine, sizes, note
        seed = sampler.seed if sampler.seed >= 0 else BENCH_SEED
        self.sampler = replace(sampler, max_tokens=sizes.reply_tokens, seed=seed)
        self.channels = BenchChannels(core, self.sampler, self.engine.count_many)
        self.figures = RemoteFigures()

    async def round(self, channel: Channel, hooks: RoundHooks | None = None) -> None:
        """One NPC turn in `channel`, through the director, stored like any round's."""
        await self._speak(channel, hooks)
        channel.rounds += 1

    async def _speak(self, channel: Channel, hooks: RoundHooks | None = None) -> RoundResult:
        return await self.core.director.run_round(
            channel.view, forced=channel.npc().name, hooks=hooks
        )

    async def direct(self, channel: Channel, n_predict: int | None = None) -> float:
        """The next turn's exact request sent straight to the server; seconds to its end."""
        plan = await self.core.director.build_prompt(channel.view, channel.npc().name)
        sampler = self.sampler if n_predict is None else replace(self.sampler, max_tokens=n_predict)
        request = GenerationRequest(plan.rendered.prompt, sampler, plan.rendered.stops)
        ids = await self.engine.tokenizer.ids(request.prompt, bos=True)
        slot = self.engine.slots.slot_of(channel.key)
        body = self.engine.completion_body(request, ids, -1 if slot is None else slot)
        started = time.perf_counter()
        async for data in self.engine.client.stream("/completion", body):
            if decode(data).get("stop"):
                break
        return time.perf_counter() - started

    async def overhead(self, channel: Channel) -> None:
        """A round against the same request sent directly, both on a prompt already cached."""
        for _ in range(self.sizes.repeats):
            await self.channels.say(channel)
            await self.direct(channel, n_predict=1)  # both runs start from the cached prompt
            self.figures.direct_s.append(await self.direct(channel))
            self.figures.round_s.append(await _timed(self.round(channel)))
        self.note(
            f"round {median(self.figures.round_s):.3f} s vs direct request "
            f"{median(self.figures.direct_s):.3f} s"
        )

    async def parallel(self, channels: list[Channel]) -> None:
        """Four channels' rounds at once against the same rounds in turn; the server's figure.

        All four runs of a repeat answer the same new message with the same speaker, each
        from the same cached prompt: the bot's first run is taken back after timing, so the
        figures differ in how the rounds are run, not in what they generate.
        """
        for _ in range(self.sizes.repeats):
            for channel in channels:
                await self.channels.say(channel)
                await self.direct(channel, n_predict=1)  # every run starts from a cached prompt
            self.figures.server_serial_s.append(
                await _timed(_in_turn([self.direct(c) for c in channels]))
            )
            self.figures.server_parallel_s.append(
                await _timed(_at_once([self.direct(c) for c in channels]))
            )
            self.figures.serial_s.append(await self._rounds(channels, _in_turn, keep=False))
            self.figures.parallel_s.append(await self._rounds(channels, _at_once, keep=True))
        ratios = self.figures.ratios()
        self.note(
            f"{len(channels)} channels at once: bot {ratios['parallel_ratio']:.2f}, "
            f"server {ratios['server_parallel_ratio']:.2f} of one after another"
        )

    async def _rounds(self, channels: list[Channel], run: Runner, *, keep: bool) -> float:
        """Seconds for one round in each channel run by `run`; undone afterwards unless `keep`."""
        results: list[RoundResult] = []

        async def speak(channel: Channel) -> None:
            results.append(await self._speak(channel))

        seconds = await _timed(run([speak(c) for c in channels]))
        if keep:
            for channel in channels:
                channel.rounds += 1
            return seconds
        for result in results:
            for turn in result.turns:
                await self.core.stores.turns.mark_deleted(turn.id)
        return seconds

    async def warm(self, channel: Channel, others: list[Channel]) -> None:
        """First token of a new message in a long channel while others generate, warm vs cold."""
        for _ in range(self.sizes.repeats):
            for cold in (False, True):
                await self.channels.say(channel)
                if cold and not await self._erase(channel):
                    return
                busy = [asyncio.create_task(self.round(o)) for o in others]
                try:
                    ttft = await self._first_token(channel)
                finally:
                    await asyncio.gather(*busy)
                (self.figures.cold_ttft_s if cold else self.figures.warm_ttft_s).append(ttft)
        self.note(
            f"first token warm {median(self.figures.warm_ttft_s):.3f} s vs cold "
            f"{median(self.figures.cold_ttft_s):.3f} s"
        )

    async def _first_token(self, channel: Channel) -> float:
        started = time.perf_counter()
        first: list[float] = []

        def on_text(_: str) -> None:
            if not first:
                first.append(time.perf_counter() - started)

        await self.round(channel, RoundHooks(text=on_text))
        return first[0] if first else time.perf_counter() - started

    async def _erase(self, channel: Channel) -> bool:
        """Empty the channel's slot (needs `--slot-save-path`); False when the server refuses."""
        slot = self.engine.slots.slot_of(channel.key)
        try:
            await self.engine.client.post_json(f"/slots/{slot}?action=erase", {})
        except EngineError as exc:
            self.figures.notes.append(f"cold start not measured: {exc}")
            return False
        return True


async def _in_turn(works: list[Awaitable[object]]) -> None:
    for work in works:
        await work


async def _at_once(works: list[Awaitable[object]]) -> None:
    await asyncio.gather(*works)
