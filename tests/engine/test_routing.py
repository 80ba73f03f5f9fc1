"""Named backends: the settings, the routing engine, the composition root and doctor.

The routing itself runs on scripted engines (control flow); the composition root connects a
real llama-server on the demo model as a named backend, and a server that echoes the API key
back in its errors, which must never reach a log.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from bot.characters.service import CharacterCommands, CharacterInput
from bot.characters.voices import VoiceChange, VoiceCommands
from bot.core import open_core
from bot.doctor import run_doctor
from bot.engine.base import GenerationRequest, Prompt, Sampler
from bot.engine.remote.llama_server import LlamaServerEngine
from bot.engine.routing import RoutingEngine
from bot.logs import install_secret_filter
from bot.settings import Settings, SettingsError, load_settings
from tests.channel.helpers import CHANNEL, GUILD, RecordingPoster, gm
from tests.scripted_engine import ScriptedEngine

KEY = "sk-named-backend-secret-4711"


def _request(backend: str | None = None) -> GenerationRequest:
    return GenerationRequest(Prompt.plain("Hello"), Sampler(max_tokens=4, seed=1), backend=backend)


# -- the settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "BACKENDS: not valid JSON"),
        ('["big"]', "BACKENDS: must be a JSON object"),
        ('{"Big Box": {}}', "BACKENDS: 'Big Box' is not a backend name"),
        ('{"default": {}}', "BACKENDS: 'default' is reserved"),
        ('{"big": {"url": "http://h"}}', "BACKENDS: big.backend: Field required"),
        ('{"big": {"backend": "llama-cpp", "url": "http://h"}}', "BACKENDS: big.backend: "),
        ('{"big": {"backend": "openai", "url": "h:80"}}', "BACKENDS: big.url: must start with"),
        ('{"big": {"backend": "openai", "url": "http://h", "key": 1}}', "BACKENDS: big.key: "),
        (
            '{"big": {"backend": "ollama", "url": "http://h", "parallel": 0}}',
            "BACKENDS: big.parallel",
        ),
    ],
)
def test_bad_backends_are_one_line_naming_the_entry_and_field(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(backends=value)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_backends_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"backend": "llama-server", "url": "http://10.0.0.5:8080/", "api_key": KEY}
    monkeypatch.setenv("BACKENDS", json.dumps({"narrator": entry}))
    settings = load_settings()
    narrator = settings.backends["narrator"]
    assert narrator.url == "http://10.0.0.5:8080" and narrator.timeout_seconds == 300.0
    # The key is a secret: never in a repr, always in what the log filter redacts.
    assert KEY not in repr(settings) and KEY not in repr(narrator) and KEY not in str(narrator)
    assert KEY in settings.secrets()
    assert load_settings(backends="").backends == {}


# -- routing (scripted engines) ---------------------------------------------------------------


async def test_a_request_naming_a_backend_goes_to_it_and_the_rest_to_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    default, big = ScriptedEngine(n_ctx=4096), ScriptedEngine(n_ctx=2048)
    router = RoutingEngine(default, {"big": big}, {"gone": "The model server at x is down."})
    await router.complete(_request("big"))
    await router.complete(_request())
    assert [r.backend for r in big.requests] == ["big"]
    assert [r.backend for r in default.requests] == [None]
    # Prompts are budgeted once for whichever engine takes them: the smallest window.
    assert router.n_ctx == 2048
    assert await router.count_many([Prompt.plain("a b c")]) == [4]  # the default's count

    with caplog.at_level(logging.WARNING, logger="bot.engine.routing"):
        for _ in range(2):
            await router.complete(_request("gone"))
            await router.complete(_request("ghost"))
    assert [r.backend for r in default.requests[1:]] == ["gone", "ghost"] * 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # once per name
    assert "'gone': it was down at start (The model server at x is down.)" in warnings[0]
    assert "'ghost': BACKENDS does not name it" in warnings[1]
    assert router.status("big") is None
    assert router.status("gone") == "down at start: the default engine speaks for it"
    assert router.status("ghost") == "not configured: the default engine speaks for it"


class _Closing(ScriptedEngine):
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_closing_the_router_closes_every_engine() -> None:
    default, big = _Closing(), _Closing()
    await RoutingEngine(default, {"big": big}).close()
    assert default.closed and big.closed


# -- the composition root and doctor, on real servers -------------------------------------------


class _EchoingKey(BaseHTTPRequestHandler):
    """A server that fails every request, quoting the Authorization header back."""

    def _fail(self) -> None:
        body = json.dumps({"error": f"upstream refused {self.headers.get('Authorization')}"})
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _fail

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture
def echoing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingKey)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _settings(tmp_path: Path, **backends: dict[str, object]) -> Settings:
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", backends=json.dumps(backends)
    )


async def test_the_core_routes_a_named_backend_to_its_llama_server(
    tmp_path: Path, llama_server_url: str
) -> None:
    settings = _settings(tmp_path, big={"backend": "llama-server", "url": llama_server_url})
    default = ScriptedEngine()
    core = await open_core(settings, engine=default)
    try:
        assert core.router is not None and core.director.engine is core.router
        assert isinstance(core.router.named["big"], LlamaServerEngine)
        done = await core.router.complete(_request("big"))
        assert done.generated_tokens > 0 and default.requests == []  # the server answered
        streamed = [piece async for piece in core.router.stream(_request("big"))]
        assert "".join(streamed) and default.requests == []
        await core.router.complete(_request())
        assert len(default.requests) == 1
    finally:
        await core.close()


async def test_a_backend_down_at_start_falls_back_and_no_log_shows_its_key(
    tmp_path: Path, echoing_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(
        tmp_path,
        echo={"backend": "llama-server", "url": echoing_url, "api_key": KEY},
        gone={"backend": "openai", "url": _closed_port_url(), "api_key": KEY},
    )
    install_secret_filter(settings.secrets(), [caplog.handler])
    default = ScriptedEngine()
    with caplog.at_level(logging.DEBUG):
        core = await open_core(settings, engine=default)
    try:
        assert core.router is not None and core.router.named == {}
        assert set(core.router.down) == {"echo", "gone"}
        # The server quoted the key back: the error holds it, and the log filter takes it out.
        assert KEY in core.router.down["echo"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("'echo'" in w and "cannot be used" in w for w in warnings), warnings
        assert any("'gone'" in w and "not reachable" in w for w in warnings), warnings
        await core.router.complete(_request("gone"))
        assert [r.backend for r in default.requests] == ["gone"]
    finally:
        await core.close()
    assert KEY not in caplog.text


async def test_doctor_lists_the_named_backends(tmp_path: Path, llama_server_url: str) -> None:
    settings = _settings(
        tmp_path,
        big={"backend": "llama-server", "url": llama_server_url},
        gone={"backend": "ollama", "url": _closed_port_url(), "model": "m", "api_key": KEY},
    )
    console = Console(record=True, width=200, highlight=False)
    status = await run_doctor(settings, console)
    text = console.export_text()
    assert "backend big" in text and f"llama-server at {llama_server_url}" in text
    assert "tokens of context" in text
    assert "backend gone" in text and "cannot be used" in text and "is not reachable" in text
    assert KEY not in text
    assert status == 0  # a down named backend does not stop the bot: a warning, not a failure


async def test_an_npc_set_to_a_backend_speaks_through_it_in_a_round(tmp_path: Path) -> None:
    # The named engine is injected (scripted): this is the path from /npc settings to it.
    settings = _settings(tmp_path, big={"backend": "llama-server", "url": _closed_port_url()})
    default = ScriptedEngine(texts=["From the default."])
    big = ScriptedEngine(texts=["From the big one."])
    core = await open_core(settings, engine=default, backends={"big": big})
    try:
        services = core.services(RecordingPoster())
        await services.get(CharacterCommands).create(gm(), "npc", CharacterInput(name="Tobin"))
        await services.get(CharacterCommands).create(gm(), "npc", CharacterInput(name="Marta"))
        voices = services.get(VoiceCommands)
        changed = await voices.settings(gm(), "Tobin", VoiceChange(backend="big"))
        assert changed.text == "**Tobin**'s voice is now: backend big."  # it serves: no note
        scene = await core.stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
        for name in ("Tobin", "Marta"):
            npc = await core.stores.characters.find_npc(GUILD, name)
            assert npc is not None
            await core.stores.scenes.add_cast(scene.id, npc.id)
        view = await core.views.view(scene)
        result = await core.director.run_round(view, forced=["Tobin", "Marta"])
        assert [t.content for t in result.turns] == ["From the big one.", "From the default."]
        assert [r.backend for r in big.requests] == ["big"]
        assert all(r.backend is None for r in default.requests)
    finally:
        await core.close()
