"""The real llama-server (scripts/llama_server.sh) on the demo model: what a remote backend uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.settings import DEMO_MODEL_FILE

CHATML_START = "<|im_start|>"
PROMPT = "<|im_start|>user\nWho keeps the lantern lit?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def client(llama_server_url: str) -> Iterator[httpx.Client]:
    """An HTTP client on the test server."""
    with httpx.Client(base_url=llama_server_url, timeout=120) as http:
        yield http


def tokenize(client: httpx.Client, text: str, *, parse_special: bool) -> list[int]:
    """The server's token ids for `text`."""
    response = client.post("/tokenize", json={"content": text, "parse_special": parse_special})
    response.raise_for_status()
    tokens: list[int] = response.json()["tokens"]
    return tokens


def stream_completion(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every SSE event of a streamed /completion, in order."""
    events: list[dict[str, Any]] = []
    # llama-server closes the connection after every streamed response although it answers
    # `Keep-Alive`; a pooled connection reused after one fails with "Server disconnected".
    headers = {"Connection": "close"}
    stream = client.stream("POST", "/completion", json={**body, "stream": True}, headers=headers)
    with stream as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line:
                continue
            assert line.startswith("data: "), line
            events.append(json.loads(line.removeprefix("data: ")))
    return events


def test_props_report_the_demo_model_its_slots_and_context(client: httpx.Client) -> None:
    """/props names the model file and the slot count; a slot's context is its share of -c."""
    props = client.get("/props").json()
    assert Path(props["model_path"]).name == DEMO_MODEL_FILE
    # scripts/llama_server.sh splits a 16,384-token KV cache between 4 slots, as the README
    # does: each reports its own 4,096 tokens, so 4 full channels always fit together.
    assert props["total_slots"] == 4
    assert props["default_generation_settings"]["n_ctx"] == 4096
    slots = client.get("/slots").json()
    assert [slot["n_ctx"] for slot in slots] == [4096] * 4


def test_parse_special_false_keeps_a_control_token_as_plain_text(client: httpx.Client) -> None:
    """With parse_special false, `<|im_start|>` typed by a player is text, not the control token."""
    special = tokenize(client, CHATML_START, parse_special=True)
    literal = tokenize(client, CHATML_START, parse_special=False)
    assert len(special) == 1
    assert len(literal) > 1
    assert special[0] not in literal
    detokenized = client.post("/detokenize", json={"tokens": literal}).json()["content"]
    assert detokenized == CHATML_START


def test_streamed_completion_of_token_ids_on_a_slot(client: httpx.Client) -> None:
    """A token-id prompt on slot 0 streams one SSE event a token, then a final stop event."""
    prompt = tokenize(client, PROMPT, parse_special=True)
    # Greedy, so the demo model reliably says 4 tokens before any end-of-turn token.
    body = {"prompt": prompt, "id_slot": 0, "cache_prompt": True, "n_predict": 4}
    body |= {"temperature": 0.0, "top_k": 1}

    *tokens, final = stream_completion(client, body)
    assert [event["stop"] for event in tokens] == [False] * 4
    assert all(len(event["tokens"]) == 1 and event["content"] for event in tokens)
    assert final["stop"] is True
    assert final["stop_type"] == "limit"
    assert final["id_slot"] == 0
    assert final["tokens_evaluated"] == len(prompt)
    assert final["tokens_predicted"] == final["timings"]["predicted_n"] == 4


def test_the_same_prompt_on_the_same_slot_reuses_its_prefix(client: httpx.Client) -> None:
    """The second identical request on slot 0 evaluates only what the slot does not hold."""
    prompt = tokenize(client, PROMPT, parse_special=True)
    body = {"prompt": prompt, "id_slot": 0, "cache_prompt": True, "n_predict": 1}
    stream_completion(client, body)
    timings = stream_completion(client, body)[-1]["timings"]
    assert timings["cache_n"] > 0
    assert timings["prompt_n"] < len(prompt)
    assert timings["cache_n"] + timings["prompt_n"] == len(prompt)
