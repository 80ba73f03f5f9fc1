"""Ollama's `/api/generate` with `raw: true`: streamed NDJSON, choices as a JSON-schema enum."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, Self

from bot.engine.base import EngineError, GenerationRequest
from bot.engine.completion import Piece
from bot.engine.remote.engine import (
    REPEAT_WINDOW,
    RemoteEngine,
    RemoteOptions,
    ServerInfo,
    make_tokenizer,
    sampler_fields,
)
from bot.engine.remote.http import ServerClient, decode


def choice_schema(choices: tuple[str, ...]) -> dict[str, Any]:
    """A JSON schema whose only valid documents are `{"choice": <one of choices>}`."""
    return {
        "type": "object",
        "properties": {"choice": {"type": "string", "enum": list(choices)}},
        "required": ["choice"],
    }


def unwrap_choice(text: str) -> str:
    """The choice inside a `{"choice": …}` answer; anything else as it came (it is validated)."""
    try:
        answer = json.loads(text)
    except ValueError:
        return text
    if isinstance(answer, dict):
        answer = answer.get("choice")
    return answer if isinstance(answer, str) else text


def _trained_context(show: dict[str, Any]) -> int | None:
    info = show.get("model_info") or {}
    return next(
        (int(v) for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)),
        None,
    )


class OllamaEngine(RemoteEngine):
    """A `TextEngine` on Ollama; its context size is set per request (`num_ctx`)."""

    name = "ollama"
    backend = "ollama"
    model: str

    @classmethod
    async def _connect(cls, client: ServerClient, options: RemoteOptions) -> Self:
        if not options.model:
            raise EngineError("BACKEND_MODEL must name the Ollama model to use (e.g. llama3.1:8b)")
        version = await client.get_json("/api/version")
        show = await client.post_json("/api/show", {"model": options.model})
        trained = _trained_context(show)
        # Ollama's own default context is small: Tavernkeep sends N_CTX with every request.
        n_ctx = options.n_ctx or options.default_n_ctx
        info = ServerInfo(
            server="Ollama",
            version=str(version.get("version", "unknown")),
            n_ctx=min(n_ctx, trained) if trained else n_ctx,
            slots=None,
            constraint="JSON-schema enum (format)",
            prompt="text (raw)",
        )
        tokenizer = await make_tokenizer(client, None, options, info.server)
        engine = cls(client, tokenizer, info, options.parallel or 1)
        engine.model = options.model
        return engine

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        sampler = request.sampler
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": request.prompt.text,
            "raw": True,
            "stream": True,
            "options": {
                **sampler_fields(sampler),
                "repeat_penalty": sampler.repeat_penalty,
                "repeat_last_n": REPEAT_WINDOW,
                "typical_p": 1.0,
                "mirostat": 0,
                "num_predict": sampler.max_tokens,
                "num_ctx": self.n_ctx,
                "seed": sampler.seed if sampler.seed >= 0 else -1,
                "stop": list(request.stops),
            },
        }
        if request.choices:
            body["format"] = choice_schema(request.choices)
        return body

    async def _pieces(self, request: GenerationRequest) -> AsyncGenerator[Piece, None]:
        async for line in self.client.stream("/api/generate", self._body(request), sse=False):
            event = decode(line)
            if not event.get("done"):
                yield Piece(text=event.get("response", ""))
                continue
            yield Piece(
                text=event.get("response", ""),
                finish="length" if event.get("done_reason") == "length" else "stop",
                prompt_tokens=event.get("prompt_eval_count"),
                generated_tokens=event.get("eval_count"),
            )
            return

    def _answer(self, request: GenerationRequest, text: str) -> str:
        return unwrap_choice(text) if request.choices else text
