"""Any OpenAI-compatible `/v1/completions` server: vLLM, TabbyAPI, llama-cpp-python's server.

The prompt goes as text (its untrusted parts are already defused; see docs/architecture.md).
Which server it is comes from `/v1/models` (`owned_by`), and decides how the speaker and floor
choices are constrained and where token counts come from.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Self

from bot.engine.base import EngineError, GenerationRequest
from bot.engine.completion import Piece, finish_reason
from bot.engine.remote.engine import (
    RemoteEngine,
    RemoteOptions,
    ServerInfo,
    context_size,
    make_tokenizer,
    sampler_fields,
)
from bot.engine.remote.http import ServerClient, decode
from bot.engine.remote.llama_server import TOKENIZE as LLAMA_SERVER_TOKENIZE
from bot.engine.remote.tokens import TokenizeApi

Extra = Callable[[GenerationRequest], dict[str, Any]]


@dataclass(frozen=True)
class Flavour:
    """What one kind of OpenAI-compatible server takes beyond the OpenAI fields."""

    server: str
    constraint: str
    extra: Extra  # the fields only this server reads: penalties, top_k, the constraint
    tokenize: Callable[[str | None], TokenizeApi | None] = lambda model: None


def _vllm(request: GenerationRequest) -> dict[str, Any]:
    # `structured_outputs` replaced the `guided_*` fields, which current vLLM silently ignores.
    fields: dict[str, Any] = {
        "top_k": -1,  # vLLM's "all tokens" (older versions reject 0)
        "repetition_penalty": request.sampler.repeat_penalty,
    }
    if request.choices:
        fields["structured_outputs"] = {"choice": list(request.choices)}
    return fields


def _tabby(request: GenerationRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {"repetition_penalty": request.sampler.repeat_penalty}
    if request.grammar:
        fields["grammar_string"] = request.grammar
    return fields


def _llama_cpp(request: GenerationRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {"repeat_penalty": request.sampler.repeat_penalty}
    if request.grammar:
        fields["grammar"] = request.grammar
    return fields


FLAVOURS: dict[str, Flavour] = {
    "vllm": Flavour(
        "vLLM",
        "structured_outputs.choice",
        _vllm,
        lambda model: TokenizeApi(
            "/tokenize",
            lambda text, special, add: {"model": model, "prompt": text, "add_special_tokens": add},
            "tokens",
        ),
    ),
    "tabbyAPI": Flavour(
        "TabbyAPI",
        "GBNF grammar (grammar_string)",
        _tabby,
        lambda model: TokenizeApi(
            "/v1/token/encode",
            lambda text, special, add: {
                "text": text,
                "add_bos_token": add,
                "encode_special_tokens": special,
                "decode_special_tokens": True,
            },
            "tokens",
        ),
    ),
    "me": Flavour(
        "llama-cpp-python server",
        "GBNF grammar",
        _llama_cpp,
        lambda model: TokenizeApi(
            "/extras/tokenize",
            lambda text, special, add: {"input": text, "model": model},
            "tokens",
            always_adds_bos=True,
        ),
    ),
    "llamacpp": Flavour(
        "llama.cpp llama-server (OpenAI API; BACKEND=llama-server sends token ids)",
        "GBNF grammar",
        _llama_cpp,
        lambda model: LLAMA_SERVER_TOKENIZE,
    ),
}
GENERIC = Flavour(
    "OpenAI-compatible server",
    "none: answers are only validated",
    lambda request: {"repetition_penalty": request.sampler.repeat_penalty},
)


async def _served_context(client: ServerClient, owner: str, entry: dict[str, Any]) -> int | None:
    """The context size the server reports, where it reports one."""
    if entry.get("max_model_len"):  # vLLM
        return int(entry["max_model_len"])
    if owner == "tabbyAPI":
        model = await client.get_json("/v1/model")
        return int((model.get("parameters") or {}).get("max_seq_len") or 0) or None
    if owner == "llamacpp":
        props = await client.get_json("/props")
        return int((props.get("default_generation_settings") or {}).get("n_ctx") or 0) or None
    return None


class OpenAIEngine(RemoteEngine):
    """A `TextEngine` on `/v1/completions` with SSE streaming."""

    name = "openai"
    backend = "openai"
    model: str
    flavour: Flavour

    @staticmethod
    def _base_url(url: str) -> str:
        # OpenAI clients are usually given ".../v1"; the paths here carry it themselves.
        return url.rstrip("/").removesuffix("/v1")

    @classmethod
    async def _connect(cls, client: ServerClient, options: RemoteOptions) -> Self:
        listing = await client.get_json("/v1/models")
        models = [m for m in listing.get("data", []) if isinstance(m, dict)]
        entry = next((m for m in models if m.get("id") == options.model), None)
        if options.model and entry is None:
            served = ", ".join(str(m.get("id")) for m in models) or "none"
            raise EngineError(f"{client.label} does not serve {options.model} (it serves {served})")
        entry = entry or (models[0] if models else {})
        owner = str(entry.get("owned_by", ""))
        flavour = FLAVOURS.get(owner, GENERIC)
        model = options.model or str(entry.get("id", ""))
        info = ServerInfo(
            server=flavour.server,
            version=f"model {model}" if model else "unknown",
            n_ctx=context_size(options, await _served_context(client, owner, entry)),
            slots=None,
            constraint=flavour.constraint,
            prompt="text",
        )
        tokenizer = await make_tokenizer(
            client, flavour.tokenize(model or None), options, info.server
        )
        engine = cls(client, tokenizer, info, options.parallel or 1)
        engine.model, engine.flavour = model, flavour
        return engine

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        sampler = request.sampler
        return {
            "model": self.model or None,
            "prompt": request.prompt.text,
            "stream": True,
            "n": 1,
            "echo": False,
            "max_tokens": sampler.max_tokens,
            **sampler_fields(sampler),
            "seed": sampler.seed if sampler.seed >= 0 else None,
            "stop": list(request.stops) or None,
            **self.flavour.extra(request),
        }

    async def _pieces(self, request: GenerationRequest) -> AsyncGenerator[Piece, None]:
        async for data in self.client.stream("/v1/completions", self._body(request)):
            if data.strip() == "[DONE]":
                return
            event = decode(data)
            usage = event.get("usage") or {}
            for choice in event.get("choices") or []:
                reason = choice.get("finish_reason")
                yield Piece(
                    text=choice.get("text") or "",
                    finish=finish_reason(reason),
                    prompt_tokens=usage.get("prompt_tokens"),
                    generated_tokens=usage.get("completion_tokens"),
                )
