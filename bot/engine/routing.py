"""The routing engine: a request that names a backend goes to it, every other to the default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping

from bot.engine.base import CancelToken, Completion, GenerationRequest, Prompt, TextEngine
from bot.engine.named import NamedBackend
from bot.engine.remote import RemoteOptions

log = logging.getLogger(__name__)


def named_options(name: str, entry: NamedBackend, default_n_ctx: int) -> RemoteOptions:
    """How to reach backend `name`; `default_n_ctx` where neither it nor its server says."""
    key = entry.api_key
    return RemoteOptions(
        backend=entry.backend,
        url=entry.url,
        api_key=key.get_secret_value() if key is not None else None,
        key_setting=f"BACKENDS: {name}.api_key",
        model=entry.model,
        parallel=entry.parallel,
        tokenizer_path=entry.tokenizer_path,
        timeout=entry.timeout_seconds,
        n_ctx=entry.n_ctx,
        default_n_ctx=default_n_ctx,
    )


class RoutingEngine:
    """A `TextEngine` over the default engine and the named ones (`GenerationRequest.backend`).

    A request naming a backend that is not configured, or that could not be reached at start,
    goes to the default engine: the NPC keeps speaking, in the default engine's voice, and the
    log says so once per name.
    """

    name = "routing"

    def __init__(
        self,
        default: TextEngine,
        named: Mapping[str, TextEngine] | None = None,
        down: Mapping[str, str] | None = None,
    ) -> None:
        self.default = default
        self.named = dict(named or {})
        self.down = dict(down or {})  # name → why it could not be reached at start
        self._warned: set[str] = set()

    @property
    def n_ctx(self) -> int:
        # Every prompt is budgeted once, before anyone knows which engine takes it (the speaker
        # choice and an NPC's turn share the scene's prefix): it must fit the smallest window.
        return min([self.default.n_ctx, *(engine.n_ctx for engine in self.named.values())])

    def status(self, name: str) -> str | None:
        """Why `name`'s NPCs speak through the default engine; None when it serves them."""
        if name in self.named:
            return None
        if name in self.down:
            return "down at start: the default engine speaks for it"
        return "not configured: the default engine speaks for it"

    def engine_for(self, backend: str | None) -> TextEngine:
        """The engine a request naming `backend` goes to."""
        if backend is None:
            return self.default
        engine = self.named.get(backend)
        if engine is not None:
            return engine
        if backend not in self._warned:
            self._warned.add(backend)
            why = self.down.get(backend)
            reason = f"it was down at start ({why})" if why else "BACKENDS does not name it"
            log.warning(
                "Backend %r: %s; its NPCs speak through the default engine", backend, reason
            )
        return self.default

    # Token counts stay with the default engine: one count per prompt, from one vocabulary,
    # keeps a scene's budget and its cut history the same whoever speaks next (the KV prefix
    # holds), and costs no round trip to another server per count. A named backend with a
    # different tokenizer may see a few tokens more or less than counted; the director's
    # safety margin absorbs that, and `n_ctx` above is the smallest window of them all.
    async def tokenize(self, prompt: Prompt) -> list[int]:
        return await self.default.tokenize(prompt)

    async def count_tokens(self, prompt: Prompt) -> int:
        return await self.default.count_tokens(prompt)

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return await self.default.count_many(prompts)

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> AsyncIterator[str]:
        return self.engine_for(request.backend).stream(request, cancel)

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        return await self.engine_for(request.backend).complete(request, cancel, on_text)

    async def close(self) -> None:
        """Close every named engine, then the default one."""
        try:
            for engine in self.named.values():
                await engine.close()
        finally:
            await self.default.close()
