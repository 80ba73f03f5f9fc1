"""koboldcpp's KoboldAI API: SSE streaming, GBNF grammars, an abort keyed by `genkey`."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncGenerator
from typing import Any, Self

from bot.engine.base import EngineError, GenerationRequest
from bot.engine.completion import Piece, finish_reason
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

# Counts and ids of a text; it always parses special tokens and adds BOS (cut off again).
TOKENCOUNT = TokenizeApi(
    "/api/extra/tokencount",
    lambda text, special, add: {"prompt": text},
    "ids",
    always_adds_bos=True,
)
SEED_MAX = 999_999  # `sampler_seed` takes 1…999999


class KoboldCppEngine(RemoteEngine):
    """A `TextEngine` on koboldcpp; it generates one request at a time and queues the rest."""

    name = "koboldcpp"
    backend = "koboldcpp"

    @classmethod
    async def _connect(cls, client: ServerClient, options: RemoteOptions) -> Self:
        version = await client.get_json("/api/extra/version")
        context = await client.get_json("/api/extra/true_max_context_length")
        info = ServerInfo(
            server=str(version.get("result", "KoboldCpp")),
            version=str(version.get("version", "unknown")),
            n_ctx=context_size(options, context.get("value")),
            slots=1,
            constraint="GBNF grammar",
            prompt="text",
        )
        tokenizer = await make_tokenizer(client, TOKENCOUNT, options, info.server)
        return cls(client, tokenizer, info, options.parallel or 1)

    def _body(self, request: GenerationRequest, genkey: str) -> dict[str, Any]:
        sampler = request.sampler
        return {
            "prompt": request.prompt.text,
            "genkey": genkey,
            "max_length": sampler.max_tokens,
            "max_context_length": self.n_ctx,
            **sampler_fields(sampler),
            "rep_pen": sampler.repeat_penalty,
            "rep_pen_range": REPEAT_WINDOW,
            "rep_pen_slope": 1.0,
            "typical": 1.0,
            "tfs": 1.0,
            "top_a": 0.0,
            "mirostat": 0,
            "dynatemp_range": 0.0,
            "smoothing_factor": 0.0,
            "dry_multiplier": 0.0,
            "xtc_probability": 0.0,
            "sampler_seed": sampler.seed % SEED_MAX + 1 if sampler.seed >= 0 else -1,
            "stop_sequence": list(request.stops),
            "trim_stop": True,
            "grammar": request.grammar or "",
            "grammar_retain_state": False,
            "use_default_badwordsids": False,
            "render_special": False,
        }

    async def _pieces(self, request: GenerationRequest) -> AsyncGenerator[Piece, None]:
        genkey = f"TK{secrets.token_hex(6)}"
        ended = False
        try:
            body = self._body(request, genkey)
            async for data in self.client.stream("/api/extra/generate/stream", body):
                event = decode(data)
                reason = event.get("finish_reason")
                ended = reason is not None
                yield Piece(
                    text=event.get("token") or "",
                    finish=finish_reason(reason),
                )
                if ended:
                    return
        except EngineError:
            ended = True  # the server failed: nothing left to abort
            raise
        finally:
            if not ended:
                await self._abort(genkey)

    async def _abort(self, genkey: str) -> None:
        """koboldcpp keeps generating after its stream closes; its abort names the request."""
        with contextlib.suppress(EngineError):
            await asyncio.shield(self.client.post_json("/api/extra/abort", {"genkey": genkey}))
