"""In-process fakes of inference servers' documented HTTP APIs, served by httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from bot.engine.remote import RemoteOptions

Handler = Callable[[Any], httpx.Response]
BOS = 1


def char_ids(text: str) -> list[int]:
    """A stand-in tokenizer: one id per character."""
    return [ord(c) for c in text]


def json_response(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def sse_response(events: Iterable[Any], *, event: str | None = None) -> httpx.Response:
    """Server-sent events: each item as one `data:` line (strings as they are)."""
    lines = []
    for item in events:
        data = item if isinstance(item, str) else json.dumps(item)
        lines.append((f"event: {event}\n" if event else "") + f"data: {data}\n\n")
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode()
    )


def ndjson_response(events: Iterable[Any]) -> httpx.Response:
    content = "".join(json.dumps(e) + "\n" for e in events).encode()
    return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=content)


class FakeServer:
    """Routes each request to its handler by method and path, recording every JSON body."""

    def __init__(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, Any, httpx.Headers]] = []

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def options(self, backend: str, **overrides: Any) -> RemoteOptions:
        """Options that reach this fake instead of the network."""
        settings: dict[str, Any] = {"backend": backend, "url": "http://fake.test:9"}
        return RemoteOptions(**{**settings, **overrides}, transport=self.transport)

    def bodies(self, path: str) -> list[Any]:
        """The JSON bodies sent to `path`, in order."""
        return [body for _, p, body, _ in self.requests if p == path]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body, request.headers))
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return json_response({"error": {"message": "Not Found"}}, 404)
        return handler(body)


def fake_llama_server(answer: Callable[[dict[str, Any]], str], n_ctx: int = 4096) -> FakeServer:
    """llama-server's /props, /tokenize and streamed /completion; `answer` decides the text."""

    def tokenize(body: dict[str, Any]) -> httpx.Response:
        ids = [BOS] if body.get("add_special") else []
        return json_response({"tokens": ids + char_ids(body["content"])})

    def completion(body: dict[str, Any]) -> httpx.Response:
        text = answer(body)
        pieces = [{"content": c, "stop": False} for c in text]
        final = {"content": "", "stop": True, "stop_type": "eos", "tokens_evaluated": 10}
        return sse_response([*pieces, {**final, "timings": {"predicted_n": len(text)}}])

    return FakeServer(
        {
            ("GET", "/props"): lambda _: json_response(
                {
                    "total_slots": 2,
                    "build_info": "b0-fake",
                    "default_generation_settings": {"n_ctx": n_ctx},
                }
            ),
            ("POST", "/tokenize"): tokenize,
            ("POST", "/completion"): completion,
        }
    )
