"""The remote engines' small parts: slots per channel, the segment cache, safe URLs, settings."""

from __future__ import annotations

import pytest

from bot.core import remote_options
from bot.engine.base import Prompt
from bot.engine.remote import connect_remote
from bot.engine.remote.http import safe_url
from bot.engine.remote.llama_server import SlotMap
from bot.engine.remote.ollama import unwrap_choice
from bot.settings import SettingsError, load_settings
from tests.engine.remote.fakes import BOS, char_ids, fake_llama_server


def test_channels_keep_a_slot_and_the_least_recently_used_idle_one_gives_it_up() -> None:
    slots = SlotMap(2)
    with slots.hold("a") as a, slots.hold("b") as b:
        assert {a, b} == {0, 1}
        with slots.hold("c") as c:  # both slots busy: the server chooses
            assert c == -1
    with slots.hold("a") as again:
        assert again == a
    with slots.hold("c") as c:  # "b" was used least recently and is idle
        assert c == b
    assert slots.slot_of("b") is None and slots.slot_of("a") == a
    with slots.hold(None) as anywhere:
        assert anywhere == -1


async def test_segments_are_tokenized_once_and_bos_only_at_the_start() -> None:
    server = fake_llama_server(lambda _: "")
    engine = await connect_remote(server.options("llama-server"))
    marker = Prompt.special("[INST]user\n")
    try:
        first = marker + "Rook: hi"
        assert await engine.tokenize(first) == [BOS, *char_ids("[INST]user\nRook: hi")]
        calls = len(server.bodies("/tokenize"))
        # Only the marker without BOS is new; "Rook: hi" is not asked again.
        assert await engine.count_many([marker + "Rook: hi", marker]) == [19, 11]
        assert len(server.bodies("/tokenize")) == calls + 1
        assert await engine.count_tokens(first) == 19
        assert len(server.bodies("/tokenize")) == calls + 1
    finally:
        await engine.close()
    plain = [b for b in server.bodies("/tokenize") if b["content"] == "Rook: hi"]
    assert plain == [{"content": "Rook: hi", "parse_special": False, "add_special": False}]


@pytest.mark.parametrize(("n_ctx", "window"), [(None, 4096), (2048, 2048), (8192, 4096)])
async def test_a_channels_window_is_the_servers_slot_which_n_ctx_only_lowers(
    n_ctx: int | None, window: int
) -> None:
    """/props reports one slot's context; a slot refuses longer prompts: N_CTX can't raise it."""
    server = fake_llama_server(lambda _: "", n_ctx=4096)
    engine = await connect_remote(server.options("llama-server", n_ctx=n_ctx))
    try:
        assert engine.n_ctx == window
    finally:
        await engine.close()


def test_urls_lose_credentials_and_queries() -> None:
    assert (
        safe_url("https://user:pw@example.org:8443/v1/?key=abc#x") == "https://example.org:8443/v1"
    )
    assert safe_url("http://[::1]:8080") == "http://[::1]:8080"


def test_an_ollama_choice_is_unwrapped_and_anything_else_left_for_validation() -> None:
    assert unwrap_choice('{"choice": "Old Tobin:"}') == "Old Tobin:"
    assert unwrap_choice('"Old Tobin:"') == "Old Tobin:"
    assert unwrap_choice("Captain Nobody:") == "Captain Nobody:"
    assert unwrap_choice('{"other": 1}') == '{"other": 1}'


def test_remote_settings_map_to_options_and_keep_the_key_secret() -> None:
    settings = load_settings(
        backend="openai",
        backend_url="http://gpu-box:8000/",
        backend_api_key="sk-123",
        backend_model="nemo",
        backend_parallel=4,
        backend_timeout_seconds=30,
    )
    options = remote_options(settings)
    assert (options.url, options.api_key, options.model, options.parallel) == (
        "http://gpu-box:8000",
        "sk-123",
        "nemo",
        4,
    )
    assert options.n_ctx is None and options.timeout == 30  # N_CTX not set: the server's
    assert "sk-123" not in repr(settings)
    assert remote_options(load_settings(backend="ollama", backend_url="http://x", n_ctx=4096)).n_ctx
    with pytest.raises(SettingsError, match="BACKEND_URL: must start with http"):
        load_settings(backend="openai", backend_url="gpu-box:8000")
    with pytest.raises(SettingsError, match="BACKEND: Input should be"):
        load_settings(backend="tgi")
