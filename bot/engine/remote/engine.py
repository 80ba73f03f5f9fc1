"""What every remote backend shares: connecting, the parallel gate, streaming and cancelling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import httpx

from bot.engine.base import (
    CancelToken,
    Completion,
    EngineError,
    GenerationRequest,
    Prompt,
    Sampler,
    stream_via_complete,
)
from bot.engine.completion import CompletionBuilder, Piece
from bot.engine.remote.http import ServerClient
from bot.engine.remote.tokens import GgufEncoder, PromptTokenizer, ServerEncoder, TokenizeApi

DEFAULT_N_CTX = 8192
# llama-cpp-python's sampler has a 64-token repetition window; servers are told the same.
REPEAT_WINDOW = 64


@dataclass(frozen=True)
class RemoteOptions:
    """How to reach one inference server, from the settings."""

    backend: str
    url: str
    api_key: str | None = field(default=None, repr=False)  # never printed
    key_setting: str = "BACKEND_API_KEY"  # where the key is set: errors name it
    model: str | None = None
    parallel: int | None = None  # None: the server's slot count where it reports one, else 1
    tokenizer_path: Path | None = None
    timeout: float = 300.0
    n_ctx: int | None = None  # None: the server's context size
    default_n_ctx: int = DEFAULT_N_CTX  # when neither says
    transport: httpx.AsyncBaseTransport | None = None  # tests: an in-process fake server


@dataclass(frozen=True)
class ServerInfo:
    """What was learnt about the server when connecting (`doctor` shows it)."""

    server: str
    version: str
    n_ctx: int
    slots: int | None
    constraint: str
    prompt: str  # what the prompt is sent as: "token ids" or "text"


def sampler_fields(sampler: Sampler, *, top_k: int = 0) -> dict[str, Any]:
    """The sampler fields most servers share, each sent explicitly (server defaults differ)."""
    return {
        "temperature": sampler.temperature,
        "min_p": sampler.min_p,
        "top_p": sampler.top_p,
        "top_k": top_k,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    }


class RemoteEngine:
    """A `TextEngine` on an inference server; subclasses speak one server's API."""

    name = "remote"
    backend = "remote"

    def __init__(
        self,
        client: ServerClient,
        tokenizer: PromptTokenizer,
        info: ServerInfo,
        parallel: int,
    ) -> None:
        self.client = client
        self.tokenizer = tokenizer
        self.info = info
        self.parallel = parallel
        # Different channels generate at once up to `parallel`; the rest wait their turn here.
        self._gate = asyncio.Semaphore(parallel)
        self.running = 0
        self.peak_running = 0

    @classmethod
    async def connect(cls, options: RemoteOptions) -> Self:
        """Reach the server, learn what it supports and build the engine; one-line errors."""
        client = ServerClient(
            cls._base_url(options.url),
            api_key=options.api_key,
            key_setting=options.key_setting,
            timeout=options.timeout,
            transport=options.transport,
        )
        try:
            return await cls._connect(client, options)
        except BaseException:
            await client.aclose()
            raise

    @classmethod
    async def _connect(cls, client: ServerClient, options: RemoteOptions) -> Self:
        raise NotImplementedError

    @staticmethod
    def _base_url(url: str) -> str:
        """The server's root, from the URL the admin gave."""
        return url

    @property
    def n_ctx(self) -> int:
        return self.info.n_ctx

    async def tokenize(self, prompt: Prompt) -> list[int]:
        """The ids a generation of `prompt` starts from, BOS included where the model has one."""
        return await self.tokenizer.ids(prompt, bos=True)

    async def count_tokens(self, prompt: Prompt) -> int:
        (count,) = await self.tokenizer.counts([prompt])
        return count

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return await self.tokenizer.counts(prompts)

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> AsyncIterator[str]:
        """Yield text pieces as they arrive; leaving the loop early closes the stream."""
        return stream_via_complete(self.complete, request, cancel)

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        """Generate to a stop string, the token limit, or cancellation."""
        token = cancel or CancelToken()
        async with self._gate:
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
            try:
                if token.cancelled:
                    return Completion(text="", finish_reason="cancelled")
                return await self._generate(request, token, on_text)
            finally:
                self.running -= 1

    async def _generate(
        self,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: Callable[[str], None] | None,
    ) -> Completion:
        builder = CompletionBuilder(on_text)
        pieces = self._pieces(request)
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                if cancel.cancelled:
                    # Leaving the loop closes the connection: the server stops generating.
                    builder.cancel()
                    break
                builder.add(piece)
        done = builder.completion()
        return replace(done, text=self._answer(request, done.text))

    def _pieces(self, request: GenerationRequest) -> AsyncGenerator[Piece, None]:
        """The server's streamed answer to `request`."""
        raise NotImplementedError

    def _answer(self, request: GenerationRequest, text: str) -> str:
        """The plain answer the director expects (a constrained choice may come back wrapped)."""
        return text

    async def close(self) -> None:
        await self.tokenizer.close()
        await self.client.aclose()


async def make_tokenizer(
    client: ServerClient, api: TokenizeApi | None, options: RemoteOptions, server: str
) -> PromptTokenizer:
    """The server's tokenize endpoint where it has one, else the local `TOKENIZER_PATH`."""
    if api is not None:
        return PromptTokenizer(ServerEncoder(client, api))
    if options.tokenizer_path is not None:
        return PromptTokenizer(await GgufEncoder.load(options.tokenizer_path))
    raise EngineError(
        f"{server} at {client.label} cannot count tokens: set TOKENIZER_PATH to a GGUF of "
        "the served model (its vocabulary is enough)."
    )


def context_size(options: RemoteOptions, server_n_ctx: int | None) -> int:
    """`N_CTX` when set, else the server's context size, else the default."""
    return options.n_ctx or server_n_ctx or options.default_n_ctx
