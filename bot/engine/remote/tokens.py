"""Token ids for remote backends: the server's own tokenize endpoint, or a local vocabulary.

Prompts are tokenized segment by segment, exactly as the in-process engine does: a format's
markers with special tokens parsed, everything else as plain text (see "Untrusted text" in
docs/architecture.md). Each segment's ids are cached, so a history that grows by one turn
costs one new request, not hundreds.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.engine.base import EngineError, Prompt
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.remote.http import ServerClient
from bot.prompts.segments import Segment

Key = tuple[str, bool, bool]  # text, parse special tokens, add BOS


class SegmentEncoder(Protocol):
    """Turns one piece of text into ids."""

    source: str

    async def encode(self, text: str, *, special: bool, add_special: bool) -> list[int]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class TokenizeApi:
    """How one server's tokenize endpoint is called and answers."""

    path: str
    body: Callable[[str, bool, bool], dict[str, Any]]  # (text, special, add_special) → JSON
    key: str  # the answer's field holding the ids
    # The endpoint adds BOS to every call whatever it is asked (koboldcpp, llama-cpp-python):
    # the prefix it adds to an empty text is cut off again when no BOS is wanted.
    always_adds_bos: bool = False


class ServerEncoder:
    """A `SegmentEncoder` on a server's tokenize endpoint."""

    def __init__(self, client: ServerClient, api: TokenizeApi) -> None:
        self.client = client
        self.api = api
        self.source = f"the server's {api.path}"
        self._prefix: list[int] | None = None

    async def _raw(self, text: str, special: bool, add_special: bool) -> list[int]:
        answer = await self.client.post_json(
            self.api.path, self.api.body(text, special, add_special)
        )
        ids = answer[self.api.key] if isinstance(answer, dict) else None
        if not isinstance(ids, list):
            raise EngineError(f"{self.client.label}{self.api.path} answered without token ids")
        return [int(i) for i in ids]

    async def encode(self, text: str, *, special: bool, add_special: bool) -> list[int]:
        ids = await self._raw(text, special, add_special)
        if self.api.always_adds_bos and not add_special:
            if self._prefix is None:
                self._prefix = await self._raw("", special, True)
            if ids[: len(self._prefix)] == self._prefix:
                ids = ids[len(self._prefix) :]
        return ids

    async def close(self) -> None:
        """The client belongs to the engine, which closes it."""


class GgufEncoder:
    """A `SegmentEncoder` on a local GGUF loaded vocabulary-only (`TOKENIZER_PATH`)."""

    def __init__(self, engine: LlamaEngine) -> None:
        self.engine = engine
        self.source = f"TOKENIZER_PATH ({engine.options.model_path.name})"

    @classmethod
    async def load(cls, path: Path) -> GgufEncoder:
        """Load only the vocabulary of the GGUF at `path`."""
        return cls(await LlamaEngine.load(LlamaOptions(model_path=path, vocab_only=True)))

    async def encode(self, text: str, *, special: bool, add_special: bool) -> list[int]:
        prompt = Prompt((Segment(text, special),))
        ids: list[int] = await self.engine.run_on_worker(
            self.engine.tokenize_sync, prompt, add_special
        )
        return ids

    async def close(self) -> None:
        await self.engine.close()


class PromptTokenizer:
    """Tokenizes whole prompts through a `SegmentEncoder`, caching ids per segment."""

    def __init__(self, encoder: SegmentEncoder, capacity: int = 8192, concurrency: int = 8) -> None:
        self.encoder = encoder
        self.capacity = capacity
        self._cache: OrderedDict[Key, tuple[int, ...]] = OrderedDict()
        self._gate = asyncio.Semaphore(concurrency)

    @property
    def source(self) -> str:
        return self.encoder.source

    async def _one(self, key: Key) -> tuple[int, ...]:
        text, special, add_special = key
        async with self._gate:
            return tuple(await self.encoder.encode(text, special=special, add_special=add_special))

    async def _lookup(self, keys: list[Key]) -> list[tuple[int, ...]]:
        # Read what is known before awaiting: concurrent lookups may evict it meanwhile.
        known = {k: self._cache[k] for k in keys if k in self._cache}
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if missing:
            known.update(zip(missing, await asyncio.gather(*map(self._one, missing)), strict=True))
        for key in keys:
            self._cache[key] = known[key]
            self._cache.move_to_end(key)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return [known[key] for key in keys]

    async def ids(self, prompt: Prompt, *, bos: bool) -> list[int]:
        """The ids of `prompt`; `bos` adds BOS to the first segment where the model has one."""
        keys = [(s.text, s.special, bos and i == 0) for i, s in enumerate(prompt.segments)]
        if bos and not keys:
            keys = [("", False, True)]
        return [i for part in await self._lookup(keys) for i in part]

    async def counts(self, prompts: list[Prompt]) -> list[int]:
        """Token counts of several prompts (no BOS), sharing one round of requests."""
        keys = [[(s.text, s.special, False) for s in p.segments] for p in prompts]
        parts = await self._lookup([k for row in keys for k in row])
        counts, at = [], 0
        for row in keys:
            counts.append(sum(len(part) for part in parts[at : at + len(row)]))
            at += len(row)
        return counts

    async def close(self) -> None:
        await self.encoder.close()
