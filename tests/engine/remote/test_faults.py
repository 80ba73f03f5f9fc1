"""Server faults: down, busy, failing, cut off mid-reply, ignoring the grammar."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from bot.director import GenerationFailed, TurnDirector
from bot.engine.base import GenerationRequest, Prompt, RemoteError, Sampler
from bot.engine.named import NamedBackend
from bot.engine.remote import RemoteOptions, connect_remote, http
from bot.engine.routing import named_options
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.engine.remote.fakes import fake_llama_server, json_response

NPCS = ("Marta Vell", "Old Tobin", "Sergeant Hale")
HELLO = GenerationRequest(Prompt.plain("Hello"), Sampler(max_tokens=4), channel="c")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen as in production, without the pauses between them."""
    monkeypatch.setattr(http, "RETRY_DELAYS", (0.0, 0.0))


def ignores_the_grammar(body: dict[str, Any]) -> str:
    """A server that never applies the grammar: it invents a speaker and a role."""
    grammar = body.get("grammar") or ""
    if '":"' in grammar:
        return "Captain Nobody:"
    return "narrator" if grammar else "The fog thickens."


async def test_an_invented_speaker_is_retried_colder_then_falls_back(db: Database) -> None:
    server = fake_llama_server(ignores_the_grammar)
    engine = await connect_remote(server.options("llama-server"))
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    view = await SceneViews(stores, Sampler(seed=1, temperature=0.8)).view(scene)
    try:
        result = await TurnDirector(engine, stores.turns).run_round(view)
    finally:
        await engine.close()
    # The first NPC speaks (never the invented name), then the players get the floor.
    assert [(t.speaker, t.content) for t in result.turns] == [("Marta Vell", "The fog thickens.")]
    assert result.ended == "players"
    speaker_asks = [b for b in server.bodies("/completion") if '":"' in (b["grammar"] or "")]
    assert [b["temperature"] for b in speaker_asks] == [0.8, 0.4]
    floor_asks = [b for b in server.bodies("/completion") if b["grammar"] and b not in speaker_asks]
    assert len(floor_asks) == 2
    speakers = {t.speaker for t in await stores.turns.window(scene.id, 100)}
    assert "Captain Nobody" not in speakers and speakers <= {*NPCS, "Rook", "Ilse"}


class Flaky(httpx.AsyncBaseTransport):
    """Refuses the first `refusals` connections, then serves `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, refusals: int) -> None:
        self.inner = inner
        self.refusals = refusals
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.refusals:
            self.refusals -= 1
            raise httpx.ConnectError("Connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_refused_connections_are_retried_before_anything_streamed() -> None:
    server = fake_llama_server(lambda _: "Hi.")
    flaky = Flaky(server.transport, refusals=2)
    options = RemoteOptions(backend="llama-server", url="http://fake.test:9", transport=flaky)
    engine = await connect_remote(options)  # two refusals, then /props answers
    try:
        flaky.refusals = 2
        done = await engine.complete(HELLO)
    finally:
        await engine.close()
    assert done.text == "Hi."
    assert len(server.bodies("/completion")) == 1


async def test_a_server_that_stays_down_is_one_short_error() -> None:
    flaky = Flaky(httpx.MockTransport(lambda _: json_response({})), refusals=99)
    options = RemoteOptions(
        backend="llama-server", url="http://u:pw@fake.test:9/?key=k", transport=flaky
    )
    with pytest.raises(RemoteError) as raised:
        await connect_remote(options)
    assert str(raised.value) == "The model server at http://fake.test:9 is not reachable."
    assert raised.value.notice == "The model server is not reachable right now."
    assert flaky.attempts == 1 + len(http.RETRY_DELAYS)


class CutOff(httpx.AsyncByteStream):
    """A stream that sends one event, then loses the connection."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'data: {"content": "The fog", "stop": false}\n\n'
        raise httpx.ReadError("connection reset by peer")


async def test_a_reply_cut_off_mid_stream_is_not_retried() -> None:
    server = fake_llama_server(lambda _: "unused")
    server.routes["POST", "/completion"] = lambda _: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=CutOff()
    )
    engine = await connect_remote(server.options("llama-server"))
    seen: list[str] = []
    try:
        with pytest.raises(RemoteError) as raised:
            await engine.complete(HELLO, on_text=seen.append)
    finally:
        await engine.close()
    assert seen == ["The fog"]
    assert len(server.bodies("/completion")) == 1  # text had streamed: never sent again
    assert raised.value.notice == "The model server stopped mid-reply."


async def _failed_reply(options: RemoteOptions) -> RemoteError:
    """The error of one reply asked of the server `options` reach."""
    engine = await connect_remote(options)
    try:
        with pytest.raises(RemoteError) as raised:
            await engine.complete(HELLO)
    finally:
        await engine.close()
    return raised.value


@pytest.mark.parametrize(
    ("status", "body", "notice", "detail"),
    [
        (429, {"error": {"message": "Too many requests"}}, "is busy; try again", "HTTP 429"),
        (503, {"detail": {"msg": "Server is busy; please try again later."}}, "is busy", "503"),
        (500, {"error": {"code": 500, "message": "KV cache full"}}, "failed.", "KV cache full"),
        (
            401,
            {"error": {"message": "Invalid API Key"}},
            "refused Tavernkeep's key",
            "(BACKEND_API_KEY)",
        ),
        (400, {"error": {"message": "bad grammar"}}, "refused the request", "bad grammar"),
    ],
)
async def test_error_statuses_are_short_notices(
    status: int, body: dict[str, Any], notice: str, detail: str
) -> None:
    server = fake_llama_server(lambda _: "unused")
    server.routes["POST", "/completion"] = lambda _: json_response(body, status)
    error = await _failed_reply(server.options("llama-server", api_key="sk-secret"))
    assert notice in error.notice and "fake.test" not in error.notice
    assert detail in str(error) and "sk-secret" not in str(error)
    assert len(server.bodies("/completion")) == 1


async def test_a_named_backend_refusing_its_key_names_its_own_setting() -> None:
    server = fake_llama_server(lambda _: "unused")
    server.routes["POST", "/completion"] = lambda _: json_response({"error": "no"}, 403)
    entry = NamedBackend(backend="llama-server", url="http://fake.test:9", api_key="sk-secret")
    options = replace(named_options("narrator", entry, 2048), transport=server.transport)
    error = await _failed_reply(options)
    assert "refused the key (BACKENDS: narrator.api_key)" in str(error)
    assert "BACKEND_API_KEY" not in str(error) and "sk-secret" not in str(error)


async def test_a_server_too_slow_to_answer_is_a_timeout_notice() -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/completion":
            raise httpx.ReadTimeout("timed out", request=request)
        return fake.transport.handle_request(request)

    fake = fake_llama_server(lambda _: "unused")
    slow = httpx.MockTransport(too_slow)
    options = RemoteOptions(
        backend="llama-server", url="http://fake.test:9", timeout=7, transport=slow, api_key="k"
    )
    error = await _failed_reply(options)
    assert error.notice == "The model server did not answer in time."
    assert "within 7 s (BACKEND_TIMEOUT_SECONDS)" in str(error)
    assert "'k'" not in repr(options)


async def test_an_error_inside_the_stream_is_a_remote_error() -> None:
    server = fake_llama_server(lambda _: "unused")
    server.routes["POST", "/completion"] = lambda _: httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=b'data: {"error": {"code": 500, "message": "decode failed"}}\n\n',
    )
    engine = await connect_remote(server.options("llama-server"))
    try:
        with pytest.raises(RemoteError, match="decode failed"):
            await engine.complete(HELLO)
    finally:
        await engine.close()


async def test_the_director_turns_a_server_fault_into_its_notice(db: Database) -> None:
    server = fake_llama_server(lambda _: "unused")
    server.routes["POST", "/completion"] = lambda _: json_response({"error": "overloaded"}, 503)
    engine = await connect_remote(server.options("llama-server"))
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    before = await stores.turns.count(scene.id)
    view = await SceneViews(stores, Sampler(seed=1)).view(scene)
    try:
        with pytest.raises(GenerationFailed) as raised:
            await TurnDirector(engine, stores.turns).run_round(view, forced="Old Tobin")
    finally:
        await engine.close()
    assert str(raised.value) == "The model server failed."
    assert await stores.turns.count(scene.id) == before
