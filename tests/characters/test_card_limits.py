"""Card caps: stored JSON size, nesting depth, greetings, lore entries; parsing off the loop."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import bot.characters.cards as cards_module
import bot.characters.drafts as drafts_module
from bot.characters.cards import CardError, export_card_v2, load_card
from bot.characters.drafts import draft_from_card_async, draft_from_sheet
from bot.characters.limits import CardLimits, RosterLimits
from bot.characters.service import card_limits, roster_limits
from bot.characters.sheet import SheetError
from bot.settings import Settings, load_settings
from tests.characters.test_card_png import png_file, text_chunk


def v2(**data: Any) -> dict[str, Any]:
    """A V2 card named Keri with extra data fields."""
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Keri", **data}}


def encode(card: dict[str, Any]) -> bytes:
    return json.dumps(card).encode("utf-8")


def nested(levels: int) -> bytes:
    """Card JSON nesting `levels` objects/lists deep in all, written as text (no recursion)."""
    inner = "[" * (levels - 2) + "]" * (levels - 2)  # inside the card and its `data` object
    return (
        f'{{"spec": "chara_card_v2", "data": {{"name": "Keri", "extensions": {inner}}}}}'.encode()
    )


DEFAULTS = CardLimits()


def load_error(data: bytes, limits: CardLimits = DEFAULTS) -> str:
    """The message of the CardError that loading `data` raises; it must be one line."""
    with pytest.raises(CardError) as caught:
        load_card(data, "card.json", limits)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_card_json_over_the_cap_says_the_limit() -> None:
    data = encode(v2(mes_example="x" * 300_000))
    assert load_error(data) == (
        f"That card's data is too big ({len(data):,} bytes; the limit is 256 KiB)."
    )
    exact = b"{" + b" " * (300 * 1024 - 2) + b"}"
    assert load_error(exact) == "That card's data is too big (300 KiB; the limit is 256 KiB)."


def test_card_json_cap_is_configurable() -> None:
    data = encode(v2(mes_example="x" * 5000))
    limits = CardLimits(json_max_bytes=len(data))
    assert load_card(data, limits=limits).name == "Keri"
    small = CardLimits(json_max_bytes=len(data) - 1)
    assert load_error(data, small) == (
        f"That card's data is too big ({len(data):,} bytes; the limit is {len(data) - 1:,} bytes)."
    )


def test_png_card_over_the_json_cap() -> None:
    json_bytes = encode(v2(mes_example="x" * 300_000))
    png = png_file(8, 8, b"", text_chunk(b"chara", base64.b64encode(json_bytes)))
    assert load_error(png) == (
        f"That card's data is too big ({len(json_bytes):,} bytes; the limit is 256 KiB)."
    )


# 800 levels parse but break export; 100,000 make Python's json module itself give up.
@pytest.mark.parametrize("levels", [65, 800, 100_000])
def test_deep_nesting_is_refused(levels: int) -> None:
    message = load_error(nested(levels))
    assert message == "That card is nested too deeply (the limit is 64 levels)."


def test_nesting_at_the_cap_imports_and_exports() -> None:
    card = load_card(nested(64))
    exported = export_card_v2(card.name, "s", None, None, card.raw)
    assert json.loads(json.dumps(exported))["data"]["extensions"] == card.raw["data"]["extensions"]


def test_million_character_greeting() -> None:
    data = encode(v2(first_mes="h" * 1_000_000))
    assert load_error(data).startswith("That card's data is too big")  # the JSON cap comes first
    message = load_error(data, CardLimits(json_max_bytes=2**21))
    assert message == (
        "That card's greeting is too long (1,000,000 characters; the limit is 6,000)."
    )


def test_alternate_and_group_greetings_are_capped() -> None:
    alternates = ["short", "y" * 6001]
    assert load_error(encode(v2(alternate_greetings=alternates))) == (
        "That card's alternate greeting 2 is too long (6,001 characters; the limit is 6,000)."
    )
    v3 = {"spec": "chara_card_v3", "data": {"name": "S", "group_only_greetings": ["z" * 9000]}}
    assert "group only greeting 1 is too long" in load_error(encode(v3))


def test_greeting_at_the_cap_imports() -> None:
    card = load_card(encode(v2(first_mes="g" * 6000, alternate_greetings=["a" * 6000])))
    assert card.greeting == "g" * 6000


def test_lore_entries_are_capped() -> None:
    book = {"entries": [{"keys": ["a"], "content": "ok"}, {"keys": ["b"], "content": "c" * 5000}]}
    assert load_error(encode(v2(character_book=book))) == (
        "That card's lorebook entry 2 is too long (5,000 characters; the limit is 4,000)."
    )
    roomy = CardLimits(lore_entry_max_chars=5000)
    assert load_card(encode(v2(character_book=book)), limits=roomy).name == "Keri"


def test_odd_lorebook_shapes_are_ignored() -> None:
    for book in (None, "text", {"entries": "x"}, {"entries": [5, {"content": 7}]}):
        assert load_card(encode(v2(character_book=book))).name == "Keri"


def test_sheet_greeting_is_capped_too() -> None:
    with pytest.raises(SheetError, match="greeting is too long"):
        draft_from_sheet("**Character Name**: Bob", greeting="h" * 6001)
    assert draft_from_sheet("**Character Name**: Bob", greeting=" hi ").greeting == "hi"


def _record_thread(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """Make `module.load_card` note which thread it ran in."""
    threads: list[int] = []
    real = cards_module.load_card

    def spy(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(module, "load_card", spy)
    return threads


async def test_async_parsing_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(v2(first_mes="Hi."))
    threads = _record_thread(monkeypatch, drafts_module)
    result = (await draft_from_card_async(data, "k.json", "Kay")).greeting
    assert result == "Hi."
    assert len(threads) == 1 and threads[0] != threading.get_ident()


async def test_async_parsing_keeps_the_limits() -> None:
    data = encode(v2(first_mes="Hi there."))
    with pytest.raises(CardError, match="greeting is too long"):
        await draft_from_card_async(data, limits=CardLimits(greeting_max_chars=3))


def test_limit_defaults_match_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in Settings.model_fields:
        monkeypatch.delenv(key.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = load_settings()
    assert card_limits(settings) == CardLimits()
    assert roster_limits(settings) == RosterLimits()
    assert settings.card_json_max_bytes == 256 * 1024


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CARD_JSON_MAX_BYTES", "4096")
    monkeypatch.setenv("GREETING_MAX_CHARS", "100")
    monkeypatch.setenv("LORE_ENTRY_MAX_CHARS", "200")
    monkeypatch.setenv("MAX_CHARACTERS_PER_PLAYER", "3")
    monkeypatch.setenv("MAX_NPCS_PER_SERVER", "4")
    settings = load_settings()
    assert card_limits(settings) == CardLimits(4096, 100, 200)
    assert roster_limits(settings) == RosterLimits(3, 4)
