"""llama.cpp's `llama-server`: token ids in, one slot per channel, GBNF grammars."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any, Self

from bot.engine.base import GenerationRequest
from bot.engine.completion import Piece
from bot.engine.remote.engine import (
    REPEAT_WINDOW,
    RemoteEngine,
    RemoteOptions,
    ServerInfo,
    context_size,
    make_tokenizer,
    sampler_fields,
)
from bot.engine.remote.http import ServerClient, decode
from bot.engine.remote.tokens import TokenizeApi

TOKENIZE = TokenizeApi(
    path="/tokenize",
    body=lambda text, special, add: {
        "content": text,
        "parse_special": special,
        "add_special": add,
    },
    key="tokens",
)
# The in-process engine's order; llama-server's default adds DRY, XTC and top-n-sigma.
SAMPLERS = ["penalties", "top_k", "typ_p", "top_p", "min_p", "temperature"]


def slot_context(options: RemoteOptions, server_n_ctx: int | None) -> int:
    """A channel's window: the server's context of one slot, which `N_CTX` may only lower.

    /props reports one slot's context (a split KV cache's share, or a unified pool capped by
    `--kv-unified-per-slot` and the trained context). A prompt longer than that is refused,
    so a larger `N_CTX` would only turn trimming into failed requests.
    """
    if not server_n_ctx:
        return context_size(options, None)
    return min(options.n_ctx or server_n_ctx, int(server_n_ctx))


class SlotMap:
    """Which server slot each channel keeps, so its history stays evaluated there."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._owner: OrderedDict[str, int] = OrderedDict()  # channel → slot, oldest use first
        self._busy: set[int] = set()

    def slot_of(self, channel: str) -> int | None:
        return self._owner.get(channel)

    def _pick(self, channel: str) -> int:
        slot = self._owner.get(channel)
        if slot is not None and slot not in self._busy:
            self._owner.move_to_end(channel)
            return slot
        taken = set(self._owner.values())
        free = [s for s in range(self.slots) if s not in taken]
        if not free:
            # The least recently used channel whose slot is idle gives it up.
            loser = next((c for c, s in self._owner.items() if s not in self._busy), None)
            if loser is None:
                return -1
            free = [self._owner.pop(loser)]
        self._owner.pop(channel, None)
        self._owner[channel] = free[0]
        return free[0]

    @contextmanager
    def hold(self, channel: str | None) -> Iterator[int]:
        """The slot for `channel` while a request runs (-1: let the server choose)."""
        slot = -1 if channel is None else self._pick(channel)
        if slot >= 0:
            self._busy.add(slot)
        try:
            yield slot
        finally:
            self._busy.discard(slot)


class LlamaServerEngine(RemoteEngine):
    """A `TextEngine` on llama-server's native `/completion` API."""

    name = "llama-server"
    backend = "llama-server"
    slots: SlotMap

    @classmethod
    async def _connect(cls, client: ServerClient, options: RemoteOptions) -> Self:
        props = await client.get_json("/props")
        settings = props.get("default_generation_settings") or {}
        total = int(props.get("total_slots") or 1)
        info = ServerInfo(
            server="llama.cpp llama-server",
            version=str(props.get("build_info", "unknown")),
            n_ctx=slot_context(options, settings.get("n_ctx")),
            slots=total,
            constraint="GBNF grammar",
            prompt="token ids",
        )
        tokenizer = await make_tokenizer(client, TOKENIZE, options, info.server)
        engine = cls(client, tokenizer, info, options.parallel or total)
        engine.slots = SlotMap(total)
        return engine

    def completion_body(
        self, request: GenerationRequest, ids: list[int], slot: int
    ) -> dict[str, Any]:
        """The `/completion` request for `request` on `slot` (the bench sends it directly too)."""
        sampler = request.sampler
        return {
            "prompt": ids,
            "stream": True,
            "id_slot": slot,
            "cache_prompt": True,
            "n_predict": sampler.max_tokens,
            **sampler_fields(sampler),
            "repeat_penalty": sampler.repeat_penalty,
            "repeat_last_n": REPEAT_WINDOW,
            "typical_p": 1.0,
            "dry_multiplier": 0.0,
            "xtc_probability": 0.0,
            "mirostat": 0,
            "dynatemp_range": 0.0,
            "samplers": SAMPLERS,
            "seed": sampler.seed if sampler.seed >= 0 else -1,
            "stop": list(request.stops),
            "grammar": request.grammar or "",
            "n_probs": 0,
        }

    async def _pieces(self, request: GenerationRequest) -> AsyncGenerator[Piece, None]:
        # Token ids, not text: only the format's markers can be control tokens (see
        # "Untrusted text" in docs/architecture.md).
        ids = await self.tokenizer.ids(request.prompt, bos=True)
        with self.slots.hold(request.channel) as slot:
            async for data in self.client.stream(
                "/completion", self.completion_body(request, ids, slot)
            ):
                event = decode(data)
                if not event.get("stop"):
                    yield Piece(text=event.get("content", ""))
                    continue
                timings = event.get("timings") or {}
                yield Piece(
                    text=event.get("content", ""),
                    finish="length" if event.get("stop_type") == "limit" else "stop",
                    prompt_tokens=event.get("tokens_evaluated"),
                    generated_tokens=timings.get("predicted_n", event.get("tokens_predicted")),
                )
                return
