"""Named backends: a request that names one goes to its engine, every other to the default."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.engine.base import CancelToken, Completion, GenerationRequest, Prompt, TextEngine

log = logging.getLogger(__name__)

RemoteKind = Literal["llama-server", "koboldcpp", "openai", "ollama"]
# What `/npc settings backend` autocompletes and a scene file or card may name.
BACKEND_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
DEFAULT_BACKEND = "default"  # not a name: the word `/npc settings backend` clears one with


class NamedBackend(BaseModel):
    """One entry of `BACKENDS`: an inference server an NPC's voice may choose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: RemoteKind
    url: str
    model: str | None = None
    api_key: SecretStr | None = None  # its repr is stars; `Settings.secrets` lists the value
    parallel: int | None = Field(None, ge=1, le=256)
    timeout_seconds: float = Field(300.0, gt=0)
    n_ctx: int | None = Field(None, ge=256)
    tokenizer_path: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("tokenizer_path")
    @classmethod
    def _tokenizer(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {value}")
        return value


def parse_backends(value: Any) -> dict[str, NamedBackend]:
    """`BACKENDS` (a JSON object, or its dict), each entry checked; one-line errors."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, Mapping):
        raise ValueError('must be a JSON object of name → {"backend": ..., "url": ...}')
    found: dict[str, NamedBackend] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not BACKEND_NAME.fullmatch(name):
            raise ValueError(
                f"{str(name)[:40]!r} is not a backend name: lower-case letters, digits, - and _, "
                "at most 32"
            )
        if name == DEFAULT_BACKEND:
            raise ValueError(f"{name!r} is reserved: it means the default engine")
        found[name] = _entry(name, entry)
    return found


def _entry(name: str, entry: Any) -> NamedBackend:
    if isinstance(entry, NamedBackend):
        return entry
    if not isinstance(entry, Mapping):
        raise ValueError(f'{name}: must be an object like {{"backend": ..., "url": ...}}')
    try:
        return NamedBackend.model_validate(entry)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "entry"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{name}.{where}: {message}") from None


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
            return "unreachable at start: the default engine speaks for it"
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
            reason = f"it was unreachable at start ({why})" if why else "BACKENDS does not name it"
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
