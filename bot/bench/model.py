"""Model figures on the real engine: bot overhead, time to first token (warm, cold, switching
channels) and how much of each prompt the KV cache gets to reuse."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TypeVar, TypeVarTuple

from bot.bench.channels import BenchChannels, Channel
from bot.bench.overhead import overhead_pairs
from bot.bench.sizes import BenchSizes
from bot.core import Core
from bot.director import TurnDirector
from bot.engine.base import EngineError, GenerationRequest, Prompt, Sampler
from bot.engine.llama import LlamaEngine
from bot.engine.recording import RecordingEngine
from bot.engine.state_cache import ChannelStateCache, common_prefix
from bot.lore import Lorebook

Note = Callable[[str], None]
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass
class ModelFigures:
    """Raw samples and sizes; the report turns them into medians and ratios."""

    cold_s: list[float] = field(default_factory=list)
    cold_prompt_tokens: list[int] = field(default_factory=list)
    warm_s: list[float] = field(default_factory=list)
    switch_s: list[float] = field(default_factory=list)
    round_s: list[float] = field(default_factory=list)
    bare_s: list[float] = field(default_factory=list)
    round_tokens: list[int] = field(default_factory=list)
    bare_tokens: list[int] = field(default_factory=list)
    round_phases: list[dict[str, float]] = field(default_factory=list)  # seconds, per round
    history_tokens: list[int] = field(default_factory=list)
    engine_prompt_tokens: int = 0
    engine_reused_tokens: int = 0
    reuse: float | None = None
    reuse_unaligned: float | None = None
    lore_reuse: tuple[float, float] | None = None  # (with a lorebook, without), same rounds
    reuse_window_moves: int = 0
    reuse_prompt_tokens: int = 0
    kv_budget_bytes: int = 0
    kv_used_bytes: int = 0
    kv_peak_bytes: int = 0
    kv_snapshots: int = 0
    kv_state_bytes: int = 0
    kv_state_tokens: int = 0
    save_state_bytes: int = 0
    cache_stats: dict[str, int] = field(default_factory=dict)
    # Next replies' first tokens after a summary update, and without one: alternate samples.
    summary_ttft_s: tuple[list[float], list[float]] = ([], [])
    notes: list[str] = field(default_factory=list)


class ModelBench:
    """Runs the model phases on one loaded engine and a scratch database."""

    def __init__(self, core: Core, sizes: BenchSizes, sampler: Sampler, note: Note) -> None:
        self.core = core
        if not isinstance(core.engine, LlamaEngine):
            raise EngineError("the bench measures the in-process engine: set BACKEND=llama-cpp")
        self.engine: LlamaEngine = core.engine
        cache = core.engine.state_cache
        if cache is None:
            raise EngineError("the bench needs the full model, not only its vocabulary")
        self.cache: ChannelStateCache = cache
        self.sizes = sizes
        self.sampler = sampler
        self.note = note
        self.figures = ModelFigures(kv_budget_bytes=cache.budget_bytes)
        self.recorder = RecordingEngine(core.engine)
        self.director = TurnDirector(
            self.recorder, core.stores.turns, counter=core.director.counter
        )
        self.channels = BenchChannels(core, sampler, self.engine.count_many)

    # -- worker-thread helpers (every llama call runs on the engine's single thread) --

    async def _worker(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        return await self.engine.run_on_worker(fn, *args)

    def _tokens(self, prompt: Prompt, bos: bool = True) -> list[int]:
        return self.engine.tokenize_sync(prompt, bos)

    # -- scenes --

    async def warm_up(self) -> None:
        """One tiny generation, so one-time allocations do not land in the first sample."""
        await self.engine.complete(
            GenerationRequest(Prompt.plain("Hello"), Sampler(max_tokens=2, seed=1))
        )

    async def new_channel(self, seed: int, history_tokens: int = 0) -> Channel:
        """A scene with the example's cast and about `history_tokens` of seeded history."""
        return await self.channels.new_channel(seed, history_tokens)

    async def _seed_history(self, channel: Channel, target: int) -> int:
        return await self.channels.seed_history(channel, target)

    async def _say(self, channel: Channel) -> None:
        await self.channels.say(channel)

    async def _ttft(self, channel: Channel) -> tuple[float, int]:
        """Time to first token of the next NPC turn, through the engine and its cache."""
        plan = await self.director.build_prompt(channel.view, channel.npc().name)
        request = GenerationRequest(
            plan.rendered.prompt, replace(self.sampler, max_tokens=1), channel=channel.key
        )
        done = await self.engine.complete(request)
        seconds = done.first_token_seconds
        return (seconds if seconds is not None else done.total_seconds), plan.budget.used_tokens

    async def _round(self, channel: Channel) -> None:
        """A director round with a forced speaker: the NPC reply is generated and stored."""
        await self.director.run_round(channel.view, forced=channel.npc().name)
        channel.rounds += 1

    @contextlib.contextmanager
    def _count_reuse(self) -> Iterator[None]:
        stats = self.cache.stats
        prompt, reused = stats.prompt_tokens, stats.reused_tokens
        yield
        self.figures.engine_prompt_tokens += stats.prompt_tokens - prompt
        self.figures.engine_reused_tokens += stats.reused_tokens - reused

    # -- phases --

    async def long_channels(self) -> list[Channel]:
        """The channels with long histories used by the cold, warm and switching figures."""
        channels = []
        for i in range(self.sizes.channels):
            channels.append(await self.new_channel(100 + i, self.sizes.history_tokens))
        return channels

    async def cold_pass(self, channels: list[Channel]) -> None:
        """First visit of every channel, each from an empty context: the cold samples."""
        for channel in channels:
            await self._say(channel)
            await self.engine.reset_context(forget=channel.key)
            seconds, tokens = await self._ttft(channel)
            self.figures.cold_s.append(seconds)
            self.figures.cold_prompt_tokens.append(tokens)
            await self._round(channel)
            self.note(f"cold: {tokens:,}-token prompt, first token after {seconds:.2f} s")

    async def warm(self, channel: Channel) -> None:
        """New player messages in the live channel; some prompts are also run cold."""
        for repeat in range(self.sizes.warm_repeats):
            await self._say(channel)
            with self._count_reuse():
                seconds, tokens = await self._ttft(channel)
            self.figures.warm_s.append(seconds)
            line = f"warm: {tokens:,}-token prompt, first token after {seconds:.3f} s"
            if repeat < self.sizes.paired_colds:
                await self.engine.reset_context(forget=channel.key)
                cold, tokens = await self._ttft(channel)
                self.figures.cold_s.append(cold)
                self.figures.cold_prompt_tokens.append(tokens)
                line += f" (the same prompt cold: {cold:.2f} s)"
            await self._round(channel)
            self.note(line)

    async def switching(self, channels: list[Channel]) -> None:
        """Channels take turns round-robin; every sample is a channel switch."""
        figures = self.figures
        for _ in range(self.sizes.switch_passes):
            for channel in channels:
                await self._say(channel)
                restores = self.cache.stats.restores
                with self._count_reuse():
                    seconds, tokens = await self._ttft(channel)
                figures.switch_s.append(seconds)
                figures.kv_used_bytes = self.cache.used_bytes
                figures.kv_peak_bytes = max(figures.kv_peak_bytes, self.cache.used_bytes)
                restored = self.cache.stats.restores > restores
                await self._round(channel)
                self.note(
                    f"switch to channel {channels.index(channel) + 1}: {tokens:,}-token prompt, "
                    f"{'restored' if restored else 'NOT restored'}, first token after "
                    f"{seconds:.3f} s; snapshots {self.cache.used_bytes / 2**20:.0f} MiB"
                )
        figures.kv_snapshots = len(self.cache)
        figures.kv_peak_bytes = max(figures.kv_peak_bytes, self.cache.stats.peak_bytes)
        n, seq, save_state = await self._worker(self._state_sizes)
        figures.kv_state_tokens, figures.kv_state_bytes, figures.save_state_bytes = (
            n,
            seq,
            save_state,
        )

    def _state_sizes(self) -> tuple[int, int, int]:
        """The live channel: tokens, snapshot bytes, and what `Llama.save_state()` would keep."""
        import llama_cpp

        llm = self.engine.llm
        n = int(llm.n_tokens)
        seq = int(llama_cpp.llama_state_seq_get_size(llm.ctx, 0)) + n * llm.input_ids.itemsize
        full = int(llama_cpp.llama_state_get_size(llm.ctx))
        rows = min(n, llm.scores.shape[0])
        scores = rows * llm.scores.shape[1] * llm.scores.itemsize
        return n, seq, full + scores + int(llm.input_ids.nbytes)

    async def overhead(self, channel: Channel) -> None:
        """Full rounds against bare `Llama` completions of the same prompts, both warm."""
        pairs = await overhead_pairs(
            self, channel, self.sizes.overhead_repeats, self.sizes.overhead_tokens
        )
        for pair in pairs:
            self.figures.round_s.append(pair.round_s)
            self.figures.bare_s.append(pair.bare_s)
            self.figures.round_tokens.append(pair.round_tokens)
            self.figures.bare_tokens.append(pair.bare_tokens)
            self.figures.round_phases.append(pair.phases)
            self.note(
                f"round {pair.round_s:.3f} s vs bare Llama {pair.bare_s:.3f} s "
                f"({pair.round_tokens} / {pair.bare_tokens} tokens generated)"
            )

    async def prefix_reuse(
        self,
        seed: int,
        *,
        aligned: bool = True,
        rounds: int | None = None,
        book: Lorebook | None = None,
    ) -> tuple[float, int, int]:
        """Prompt tokens kept from one round to the next in a channel over its budget.

        Counted with the model's tokenizer on the director's real prompts: the context
        after a round is that round's prompt plus the reply, and llama.cpp keeps the
        longest common token prefix of it and the next prompt (less one replayed token).
        With `book`, that lorebook is attached to the scene. Returns (fraction reused,
        window moves, median prompt tokens).
        """
        channel = await self.new_channel(seed)
        if book is not None:
            stores = self.core.stores
            stored = await stores.lore.save_book(channel.scene.guild_id, book, name=f"b{seed}")
            await stores.lore.attach(channel.scene.id, stored.id)
            channel.view = replace(
                await self.core.views.view(channel.scene), sampler=self.sampler, max_replies=1
            )
        fmt, context = channel.view.fmt, channel.view.context
        (system,) = await self.director.counter.counts([fmt.system_block(context)])
        room = self.engine.n_ctx - self.sampler.max_tokens - self.director.margin - system
        await self._seed_history(channel, int(room * 1.5))
        # Turn-by-turn trimming is the same director with a step of one turn.
        director = self.director
        if not aligned:
            director = TurnDirector(
                self.recorder, self.core.stores.turns, counter=director.counter, trim_step=1
            )
        previous: list[int] | None = None
        start_seq: int | None = None
        reused = total = moves = 0
        sizes = []
        for _ in range((rounds or self.sizes.reuse_rounds) + 1):
            await self._say(channel)
            npc = channel.npc()
            plan = await director.build_prompt(channel.view, npc.name)
            tokens = await self._worker(self._tokens, plan.rendered.prompt)
            first_seq = plan.history[0].seq if plan.history else 0
            if previous is not None:
                reused += min(common_prefix(previous, tokens), len(tokens) - 1)
                total += len(tokens)
                sizes.append(len(tokens))
                moves += first_seq != start_seq
            start_seq = first_seq
            reply = channel.filler.line(npc.name)
            generated = await self._worker(self._tokens, Prompt.plain(f" {reply}"), False)
            previous = tokens + generated[:-1]
            await self.core.stores.turns.append(
                channel.scene.id,
                role="model",
                speaker=npc.name,
                content=reply,
                character_id=npc.id,
            )
            channel.rounds += 1
        sizes.sort()
        return reused / total, moves, sizes[len(sizes) // 2]

    def snapshot_stats(self) -> None:
        stats = self.cache.stats
        self.figures.cache_stats = {
            "switches": stats.switches,
            "restores": stats.restores,
            "misses": stats.misses,
            "evictions": stats.evictions,
            "saves": stats.saves,
            "oversize": stats.oversize,
            "restored_tokens": stats.restored_tokens,
        }
