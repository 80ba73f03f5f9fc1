"""koboldcpp, vLLM, TabbyAPI and Ollama against their documented request/response formats.

No such server runs here: each test serves the endpoints as the project's API documentation
describes them (httpx.MockTransport) and checks what Tavernkeep sends and how it reads the
answer. The names say so: `..._documented_wire_format`.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.base import CancelToken, EngineError, GenerationRequest, Prompt, Sampler
from bot.engine.remote import connect_remote
from bot.engine.remote.ollama import OllamaEngine
from tests.engine.remote.conftest import demo_model
from tests.engine.remote.fakes import (
    BOS,
    FakeServer,
    char_ids,
    json_response,
    ndjson_response,
    sse_response,
)

SAMPLER = Sampler(temperature=0.7, min_p=0.12, top_p=0.9, repeat_penalty=1.1, max_tokens=33, seed=5)
PROMPT = Prompt.special("[INST]user\n") + "Rook: hi" + Prompt.special("[/INST]\n[INST]model\n")
TEXT = GenerationRequest(PROMPT, SAMPLER, stops=("[INST]", "Rook:"), channel="c1")
CHOICES = ("Marta Vell:", "Old Tobin:")
CHOICE = GenerationRequest(
    PROMPT,
    SAMPLER,
    grammar='root ::= ("Marta Vell" | "Old Tobin") ":"\n',
    channel="c1",
    choices=CHOICES,
)


def _subset(body: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {key: body.get(key) for key in expected}


def kobold(tokens: list[str], finish: str = "stop") -> FakeServer:
    """koboldcpp: /api/extra/* as its embedded API documentation gives them."""
    events = [{"token": t, "finish_reason": None} for t in tokens]
    return FakeServer(
        {
            ("GET", "/api/extra/version"): lambda _: json_response(
                {"result": "KoboldCpp", "version": "1.102"}
            ),
            ("GET", "/api/extra/true_max_context_length"): lambda _: json_response(
                {"value": 12288}
            ),
            ("POST", "/api/extra/tokencount"): lambda body: json_response(
                {"value": len(body["prompt"]) + 1, "ids": [BOS, *char_ids(body["prompt"])]}
            ),
            ("POST", "/api/extra/generate/stream"): lambda _: sse_response(
                [*events, {"token": "", "finish_reason": finish}], event="message"
            ),
            ("POST", "/api/extra/abort"): lambda _: json_response({"success": True}),
        }
    )


async def test_koboldcpp_documented_wire_format() -> None:
    server = kobold(["The", " fog"], finish="length")
    engine = await connect_remote(server.options("koboldcpp"))
    try:
        assert (engine.n_ctx, engine.parallel) == (12288, 1)
        # tokencount always adds BOS; the count of a block leaves it out.
        assert await engine.count_many([Prompt.plain("abc")]) == [3]
        done = await engine.complete(CHOICE)
    finally:
        await engine.close()
    assert (done.text, done.finish_reason) == ("The fog", "length")
    body = server.bodies("/api/extra/generate/stream")[0]
    expected = {
        "prompt": PROMPT.text,
        "max_length": 33,
        "max_context_length": 12288,
        "temperature": 0.7,
        "min_p": 0.12,
        "top_p": 0.9,
        "top_k": 0,
        "rep_pen": 1.1,
        "stop_sequence": [],
        "trim_stop": True,
        "grammar": CHOICE.grammar,
    }
    assert _subset(body, expected) == expected
    assert body["sampler_seed"] == 6 and body["genkey"]


async def test_koboldcpp_cancel_aborts_its_own_generation_documented_wire_format() -> None:
    server = kobold(["One", " two", " three", " four"])
    engine = await connect_remote(server.options("koboldcpp"))
    cancel = CancelToken()
    try:
        done = await engine.complete(TEXT, cancel, lambda _: cancel.cancel())
    finally:
        await engine.close()
    assert (done.text, done.finish_reason) == ("One", "cancelled")
    (generate,) = server.bodies("/api/extra/generate/stream")
    assert generate["stop_sequence"] == ["[INST]", "Rook:"]
    assert server.bodies("/api/extra/abort") == [{"genkey": generate["genkey"]}]


def openai_server(owner: str, answer: str, extra: dict[tuple[str, str], Any]) -> FakeServer:
    """An OpenAI-compatible /v1/models and streamed /v1/completions, plus `extra` routes."""
    entry: dict[str, Any] = {"id": "nemo-12b", "object": "model", "owned_by": owner}
    if owner == "vllm":
        entry["max_model_len"] = 16384
    chunks = [
        {"object": "text_completion", "choices": [{"index": 0, "text": c, "finish_reason": None}]}
        for c in (answer[:3], answer[3:])
    ]
    last = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
    return FakeServer(
        {
            ("GET", "/v1/models"): lambda _: json_response({"object": "list", "data": [entry]}),
            ("POST", "/v1/completions"): lambda _: sse_response([*chunks, last, "[DONE]"]),
            **extra,
        }
    )


async def test_vllm_documented_wire_format() -> None:
    def tokenize(body: dict[str, Any]) -> Any:
        ids = ([BOS] if body["add_special_tokens"] else []) + char_ids(body["prompt"])
        return json_response({"count": len(ids), "max_model_len": 16384, "tokens": ids})

    server = openai_server("vllm", "Old Tobin:", {("POST", "/tokenize"): tokenize})
    # Given as OpenAI clients take it, with /v1: the paths are still the server's.
    engine = await connect_remote(
        server.options("openai", url="http://gpu.test:8000/v1", parallel=8)
    )
    try:
        assert (engine.n_ctx, engine.parallel) == (16384, 8)
        assert engine.info.constraint == "structured_outputs.choice"
        assert await engine.count_many([Prompt.plain("abcd")]) == [4]
        done = await engine.complete(CHOICE)
    finally:
        await engine.close()
    assert done.text == "Old Tobin:"
    assert server.bodies("/tokenize")[0] == {
        "model": "nemo-12b",
        "prompt": "abcd",
        "add_special_tokens": False,
    }
    body = server.bodies("/v1/completions")[0]
    expected = {
        "model": "nemo-12b",
        "prompt": PROMPT.text,
        "stream": True,
        "max_tokens": 33,
        "temperature": 0.7,
        "min_p": 0.12,
        "top_p": 0.9,
        "top_k": -1,
        "repetition_penalty": 1.1,
        "seed": 5,
        "structured_outputs": {"choice": list(CHOICES)},
    }
    assert _subset(body, expected) == expected
    assert "guided_choice" not in body  # current vLLM ignores it silently


async def test_tabbyapi_documented_wire_format() -> None:
    def encode(body: dict[str, Any]) -> Any:
        ids = ([BOS] if body["add_bos_token"] else []) + char_ids(body["text"])
        return json_response({"tokens": ids, "length": len(ids)})

    routes = {
        ("GET", "/v1/model"): lambda _: json_response(
            {"id": "nemo-12b", "parameters": {"max_seq_len": 12288}}
        ),
        ("POST", "/v1/token/encode"): encode,
    }
    server = openai_server("tabbyAPI", "Marta Vell:", routes)
    engine = await connect_remote(server.options("openai", api_key="sekrit"))
    try:
        assert engine.n_ctx == 12288
        assert await engine.tokenize(Prompt.special("<s>") + "ab") == [BOS, *char_ids("<s>ab")]
        done = await engine.complete(CHOICE)
    finally:
        await engine.close()
    assert done.text == "Marta Vell:"
    first_encode = server.bodies("/v1/token/encode")[0]
    assert first_encode["encode_special_tokens"] is True and first_encode["add_bos_token"] is True
    body = server.bodies("/v1/completions")[0]
    assert body["grammar_string"] == CHOICE.grammar and body["repetition_penalty"] == 1.1
    assert all(h.get("authorization") == "Bearer sekrit" for *_, h in server.requests)


async def test_an_openai_server_without_a_tokenizer_needs_tokenizer_path() -> None:
    server = openai_server("some-gateway", "Hi", {})
    with pytest.raises(EngineError, match="TOKENIZER_PATH"):
        await connect_remote(server.options("openai"))


async def test_an_openai_model_that_is_not_served_is_named() -> None:
    server = openai_server("vllm", "Hi", {})
    with pytest.raises(EngineError, match=r"does not serve llama-70b \(it serves nemo-12b\)"):
        await connect_remote(server.options("openai", model="llama-70b"))


def ollama(pieces: list[str], reason: str = "stop") -> FakeServer:
    """Ollama: /api/version, /api/show and the streamed NDJSON of /api/generate."""
    events = [{"model": "nemo", "response": p, "done": False} for p in pieces]
    final = {"model": "nemo", "response": "", "done": True, "done_reason": reason}
    return FakeServer(
        {
            ("GET", "/api/version"): lambda _: json_response({"version": "0.12.3"}),
            ("POST", "/api/show"): lambda _: json_response(
                {"model_info": {"llama.context_length": 4096}, "parameters": "num_ctx 2048"}
            ),
            ("POST", "/api/generate"): lambda _: ndjson_response(
                [*events, {**final, "prompt_eval_count": 12, "eval_count": len(pieces)}]
            ),
        }
    )


async def test_ollama_documented_wire_format() -> None:
    server = ollama(['{"choice": ', '"Old Tobin:"', "}"])
    with pytest.raises(EngineError, match="TOKENIZER_PATH"):  # Ollama has no tokenize endpoint
        await connect_remote(server.options("ollama", model="nemo"))
    options = server.options("ollama", model="nemo", tokenizer_path=demo_model())
    engine = await connect_remote(options)
    try:
        assert isinstance(engine, OllamaEngine) and engine.n_ctx == 4096  # N_CTX, capped
        done = await engine.complete(CHOICE)
    finally:
        await engine.close()
    assert (done.text, done.prompt_tokens, done.generated_tokens) == ("Old Tobin:", 12, 3)
    body = server.bodies("/api/generate")[-1]
    assert (body["model"], body["prompt"], body["raw"], body["stream"]) == (
        "nemo",
        PROMPT.text,
        True,
        True,
    )
    assert body["format"]["properties"]["choice"]["enum"] == list(CHOICES)
    assert body["options"] == {
        "temperature": 0.7,
        "min_p": 0.12,
        "top_p": 0.9,
        "top_k": 0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "repeat_penalty": 1.1,
        "repeat_last_n": 64,
        "typical_p": 1.0,
        "mirostat": 0,
        "num_predict": 33,
        "num_ctx": 4096,
        "seed": 5,
        "stop": [],
    }


async def test_ollama_text_streams_and_stops_at_the_limit_documented_wire_format() -> None:
    server = ollama(["The", " fog", " lifts"], reason="length")
    options = server.options("ollama", model="nemo", tokenizer_path=demo_model(), n_ctx=2048)
    engine = await connect_remote(options)
    try:
        pieces = [p async for p in engine.stream(TEXT)]
    finally:
        await engine.close()
    assert pieces == ["The", " fog", " lifts"]
    body = server.bodies("/api/generate")[0]
    assert "format" not in body and body["options"]["stop"] == ["[INST]", "Rook:"]
    assert body["options"]["num_ctx"] == 2048
