"""In-process llama.cpp engine: one `Llama`, driven from one worker thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple

from bot.engine.base import (
    CancelToken,
    Completion,
    EngineError,
    GenerationRequest,
    Prompt,
    stream_via_complete,
)
from bot.engine.completion import CompletionBuilder, Piece, finish_reason
from bot.engine.segment_tokens import Key, SegmentTokens
from bot.engine.state_cache import ChannelStateCache

if TYPE_CHECKING:
    # Imported when the model loads: importing llama_cpp loads the llama.cpp library.
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar
    from llama_cpp.llama_types import CompletionChoice, CreateCompletionStreamResponse

log = logging.getLogger(__name__)

_KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # ggml_type ids
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class LlamaOptions:
    """What `Llama(...)` is built with."""

    model_path: Path
    n_ctx: int = 8192
    n_gpu_layers: int = 0
    n_threads: int | None = None
    n_batch: int = 512
    flash_attn: bool = False
    kv_cache_type: str = "f16"
    kv_cache_mb: int = 1024
    seed: int = -1
    vocab_only: bool = False


@dataclass
class EngineTimings:
    """Worker-thread seconds of every generation so far, part by part (the bench's breakdown)."""

    generations: int = 0
    tokenize_s: float = 0.0  # the prompt's ids (cached per segment)
    kv_s: float = 0.0  # KV snapshots: saving the live channel, restoring this one
    decode_s: float = 0.0  # inside llama-cpp-python: evaluating, sampling, detokenizing
    stream_s: float = 0.0  # our handling of each streamed token
    worker_s: float = 0.0  # the whole generation on the worker, these parts and the rest


class LlamaEngine:
    """A `TextEngine` on llama-cpp-python; every llama call runs on the same single thread."""

    name = "llama.cpp"

    def __init__(self, options: LlamaOptions) -> None:
        self.options = options
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llm: Llama | None = None
        self._closed = False  # set before the model is freed: later work is refused, not run
        self._grammars: dict[str, LlamaGrammar] = {}
        self.state_cache: ChannelStateCache | None = None
        self.segment_tokens = SegmentTokens(self._tokenize_segment)
        self.timings = EngineTimings()
        self.load_seconds = 0.0

    @classmethod
    async def load(cls, options: LlamaOptions) -> LlamaEngine:
        """Load the model on the worker thread."""
        engine = cls(options)
        await engine.run_on_worker(engine._load)
        return engine

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr

        started = time.perf_counter()
        kv_type = _KV_TYPES[self.options.kv_cache_type]
        # llama.cpp warns about the context of a vocabulary-only load; nothing to act on.
        quiet = suppress_stdout_stderr(disable=not self.options.vocab_only)
        try:
            with quiet:
                self._llm = Llama(
                    model_path=str(self.options.model_path),
                    n_ctx=self.options.n_ctx,
                    n_gpu_layers=self.options.n_gpu_layers,
                    n_threads=self.options.n_threads,
                    n_threads_batch=self.options.n_threads,
                    n_batch=self.options.n_batch,
                    flash_attn=self.options.flash_attn,
                    type_k=kv_type,
                    type_v=kv_type,
                    seed=self.options.seed if self.options.seed >= 0 else 0xFFFFFFFF,
                    vocab_only=self.options.vocab_only,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"could not load {self.options.model_path}: {exc}") from exc
        if not self.options.vocab_only:
            budget = self.options.kv_cache_mb * 1024 * 1024
            self.state_cache = ChannelStateCache(self._llm, budget)
        self.load_seconds = time.perf_counter() - started

    def _reset(self, forget: str | None) -> None:
        if self.state_cache is not None:
            if forget is not None:
                self.state_cache.forget(forget)
            self.state_cache.detach()
        self.llm.reset()  # type: ignore[no-untyped-call]  # unannotated in llama-cpp-python

    async def reset_context(self, forget: str | None = None) -> None:
        """Empty the context, saving the live channel's state unless it is the one to forget."""
        await self.run_on_worker(self._reset, forget)

    @property
    def llm(self) -> Llama:
        """The underlying `llama_cpp.Llama` (only touch it from the worker thread)."""
        if self._llm is None:
            raise EngineError(f"{self.options.model_path.name} is not loaded")
        return self._llm

    @property
    def n_ctx(self) -> int:
        return self.options.n_ctx

    async def run_on_worker(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run `fn` on the llama worker thread (the only thread that may touch `llm`)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._unless_closed, fn, *args
        )

    def _unless_closed(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        # Checked on the worker itself: work queued behind `close` (a round still going while
        # the bot stops) would otherwise touch the freed model and crash the process.
        if self._closed:
            raise EngineError("the model is closed (the bot is stopping)")
        return fn(*args)

    def tokenize_sync(self, prompt: Prompt, add_bos: bool = False) -> list[int]:
        """`tokenize` on the worker thread itself (only call it there)."""
        # Segment by segment: only a format's markers may parse as special tokens (see
        # "Untrusted text" in docs/architecture.md).
        ids: list[int] = []
        for index, segment in enumerate(prompt.segments):
            ids += self.segment_tokens.ids((segment.text, segment.special, add_bos and index == 0))
        return ids

    def _tokenize_segment(self, key: Key) -> list[int]:
        text, special, add_bos = key
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    async def tokenize(self, prompt: Prompt) -> list[int]:
        """The ids a generation of `prompt` starts from, BOS included where the model has one."""
        return await self.run_on_worker(self.tokenize_sync, prompt, True)

    async def count_tokens(self, prompt: Prompt) -> int:
        return len(await self.run_on_worker(self.tokenize_sync, prompt))

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        """Token counts of several prompts in one trip to the worker."""
        return await self.run_on_worker(lambda: [len(self.tokenize_sync(p)) for p in prompts])

    def _grammar(self, text: str) -> LlamaGrammar:
        from llama_cpp.llama_grammar import LlamaGrammar

        if text not in self._grammars:
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def _pieces(
        self, request: GenerationRequest, prompt_tokens: list[int]
    ) -> Generator[CreateCompletionStreamResponse, None, None]:
        sampler = request.sampler
        started = time.perf_counter()
        if self.state_cache is not None:
            # Snapshots are lazy: a channel's cells are copied out only when another channel
            # (or a request without one) takes the context, never after its own rounds.
            if request.channel is not None:
                self.state_cache.activate(request.channel, prompt_tokens)
            else:
                self.state_cache.detach()
        self.timings.kv_s += time.perf_counter() - started
        # The tokens, not the text: llama-cpp-python would tokenize the whole prompt again.
        stream = self.llm.create_completion(
            prompt_tokens,
            max_tokens=sampler.max_tokens,
            temperature=sampler.temperature,
            min_p=sampler.min_p,
            top_p=sampler.top_p,
            top_k=0,
            repeat_penalty=sampler.repeat_penalty,
            stop=list(request.stops) or None,
            seed=sampler.seed if sampler.seed >= 0 else None,
            grammar=self._grammar(request.grammar) if request.grammar else None,
            stream=True,
        )
        if not isinstance(stream, Generator):  # stream=True always streams
            raise EngineError("llama-cpp-python returned a whole completion, not a stream")
        return stream

    def _generate(
        self,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: Callable[[str], None] | None,
    ) -> Completion:
        clock, timings = time.perf_counter, self.timings
        started = clock()
        builder = CompletionBuilder(on_text)
        prompt_tokens = self.tokenize_sync(request.prompt, add_bos=True)
        builder.prompt_tokens = len(prompt_tokens)
        timings.tokenize_s += clock() - started
        try:
            stream = self._pieces(request, prompt_tokens)
            streamed = clock()
            for chunk in stream:
                took = clock()
                timings.decode_s += took - streamed
                if cancel.cancelled:
                    builder.cancel()
                    stream.close()
                    break
                builder.add(_piece(chunk["choices"][0]))
                streamed = clock()
                timings.stream_s += streamed - took
            else:
                timings.decode_s += clock() - streamed
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        finally:
            timings.generations += 1
            timings.worker_s += clock() - started
        return builder.completion()

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        """Generate to a stop string, the token limit, or cancellation."""
        token = cancel or CancelToken()
        try:
            return await self.run_on_worker(self._generate, request, token, on_text)
        except asyncio.CancelledError:
            token.cancel()
            raise

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> AsyncIterator[str]:
        """Yield text pieces as they are generated; leaving the loop early cancels."""
        return stream_via_complete(self.complete, request, cancel)

    async def close(self) -> None:
        """Free the model once the work already queued is done; anything later is refused."""
        llm, self._closed = self._llm, True
        if llm is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, llm.close)
            self._llm = None
        self._executor.shutdown(wait=True)


def _piece(choice: CompletionChoice) -> Piece:
    """One streamed llama-cpp-python choice: one token, or the finish reason alone."""
    return Piece(text=choice["text"], finish=finish_reason(choice.get("finish_reason")))


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version."""
    import llama_cpp

    return str(llama_cpp.__version__)
