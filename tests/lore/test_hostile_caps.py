"""Hostile files are refused at import with one line: cards, World Info files and scene files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.characters.cards import CardError, card_to_png
from bot.characters.drafts import draft_from_card, draft_from_card_async
from bot.errors import UserError
from bot.lore import Lorebook, LoreEntry, LoreError, check_book, load_lorebook
from bot.lore.limits import KEYS_PER_BOOK_MAX, REGEX_KEYS_MAX
from bot.lore.service import EntryInput, LoreCommands
from bot.lore.tables import TableError, entry_from_table
from bot.scenes.scene_file import SceneFileError, load_scene_file
from bot.store import Database
from tests.channel.helpers import build, gm
from tests.lore.hostile import (
    backtracking_key,
    hostile_card,
    hostile_world_info,
    trap_entries,
    world_info_bytes,
)


def _one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 300, text
    return text


async def test_a_card_with_thousands_of_backtracking_regex_keys_is_refused() -> None:
    card = hostile_card(2000)
    raw = json.dumps(card).encode()
    assert len(raw) < 256 * 1024  # within the card size cap: only the regex cap stops it
    with pytest.raises(CardError) as refused:
        await draft_from_card_async(raw, "mallory.json")
    assert _one_line(refused) == (
        f"That card's lorebook has too many regex keys (2,000; the limit is {REGEX_KEYS_MAX})."
    )
    with pytest.raises(CardError, match="too many regex keys"):  # a PNG card alike
        draft_from_card(card_to_png(card), "mallory.png")
    # Within the cap the same card is welcome.
    fine = json.dumps(hostile_card(REGEX_KEYS_MAX)).encode()
    assert draft_from_card(fine, "mallory.json").name == "Mallory"


def test_a_world_info_file_with_2000_backtracking_keys_is_refused() -> None:
    with pytest.raises(LoreError) as refused:
        load_lorebook(hostile_world_info(2000), "traps.json")
    assert _one_line(refused) == (
        f"That lorebook has too many regex keys (2,000; the limit is {REGEX_KEYS_MAX})."
    )
    # The same key written 2,000 times is one key to match.
    same = world_info_bytes(*({"key": [backtracking_key(1)], "content": "T."} for _ in range(2000)))
    assert len(load_lorebook(same, "same.json").entries) == 2000


def test_a_scene_file_with_backtracking_keys_is_refused(tmp_path: Path) -> None:
    (tmp_path / "traps.json").write_bytes(hostile_world_info(2000))
    (tmp_path / "mallory.json").write_text(json.dumps(hostile_card(2000)))
    books = tmp_path / "books.toml"
    books.write_text('lorebooks = ["traps.json"]\n[[npcs]]\nname = "Marta"\n')
    with pytest.raises(SceneFileError) as refused:
        load_scene_file(books)
    assert "lorebooks[0]: That lorebook has too many regex keys (2,000;" in _one_line(refused)
    card = tmp_path / "card.toml"
    card.write_text('[[npcs]]\ncard = "mallory.json"\n')
    with pytest.raises(SceneFileError) as refused:
        load_scene_file(card)
    assert "npcs[0]: That card's lorebook has too many regex keys" in _one_line(refused)
    tables = tmp_path / "tables.toml"
    tables.write_text(
        '[[npcs]]\nname = "Marta"\n[[lore]]\nkeys = ["/a{4294967294}/"]\ncontent = "Boom."\n'
    )
    with pytest.raises(SceneFileError) as refused:
        load_scene_file(tables)
    assert "lore[0]: That entry has a regex key with too many repeats" in _one_line(refused)


@pytest.mark.parametrize("sticky", [33, 10**6, 10**400, 1e308], ids=["33", "1e6", "1e400", "1e308"])
def test_a_huge_sticky_is_refused_at_import(sticky: float) -> None:
    raw = world_info_bytes({"key": ["fog"], "content": "Fog.", "sticky": sticky})
    with pytest.raises(LoreError) as refused:
        load_lorebook(raw, "sticky.json")
    assert "stays in too long" in _one_line(refused)
    assert "the limit is 32 turns" in str(refused.value)
    with pytest.raises(TableError, match="stays in too long"):
        entry_from_table({"keys": ["fog"], "content": "Fog.", "sticky": 33})
    assert load_lorebook(world_info_bytes({"key": ["fog"], "content": "F.", "sticky": 32}))


def test_a_regex_key_that_would_unroll_gigabytes_is_refused() -> None:
    for key in ("/a{4294967294}/", "/(?:a{100}){100}/", "/x{40}y{40}/"):
        raw = world_info_bytes({"key": [key], "content": "Boom."})
        with pytest.raises(LoreError) as refused:
            load_lorebook(raw, "repeat.json")
        assert "a regex key with too many repeats" in _one_line(refused)
    fine = ("/\\d{4}-\\d{2}-\\d{2}/", "/(?:ab){1,1000000}/", "/a\\{5000}/", "/\\p{L}{3}/")
    assert load_lorebook(world_info_bytes({"key": list(fine), "content": "Ok."}))


def test_groups_and_group_weights_past_their_caps_are_refused() -> None:
    many = ",".join(f"g{i}" for i in range(17))
    with pytest.raises(LoreError, match="too many inclusion groups"):
        load_lorebook(world_info_bytes({"key": ["a"], "content": "A.", "group": many}))
    with pytest.raises(LoreError, match="too large a group weight"):
        load_lorebook(world_info_bytes({"key": ["a"], "content": "A.", "groupWeight": 1e308}))


def test_a_book_with_too_many_keys_is_refused() -> None:
    keys = tuple(f"k{i}" for i in range(100))
    entries = tuple(LoreEntry(keys=keys, content="C.") for _ in range(KEYS_PER_BOOK_MAX // 100 + 1))
    with pytest.raises(LoreError, match=r"too many keys \(20,100; the limit is 20,000\)"):
        check_book(Lorebook(entries=entries))


def test_numbers_too_long_to_read_get_one_line() -> None:
    digits = b'{"entries": {"0": {"key": ["a"], "content": "A.", "order": 1' + b"0" * 5000 + b"}}}"
    with pytest.raises(LoreError) as refused:
        load_lorebook(digits, "digits.json")
    assert _one_line(refused) == "That lorebook file holds a number too long to read."
    card = b'{"name": "Zed", "x": 1' + b"0" * 5000 + b"}"
    with pytest.raises(CardError, match="a number too long to read"):
        draft_from_card(card, "zed.json")


def test_a_card_book_within_the_caps_still_imports() -> None:
    card = hostile_card(3)
    card["data"]["character_book"]["entries"] += trap_entries(2)
    assert draft_from_card(json.dumps(card).encode(), "m.json").card_json == card


async def test_lore_add_and_edit_keep_a_book_within_the_regex_cap(db: Database) -> None:
    lore = build(db).services.get(LoreCommands)
    many = ", ".join(f"/r{i}/" for i in range(REGEX_KEYS_MAX))
    await lore.add_entry(gm(), "Regexes", EntryInput(keys=many, content="Many."))
    with pytest.raises(UserError, match=r"too many regex keys \(101; the limit is 100\)"):
        await lore.add_entry(gm(), "Regexes", EntryInput(keys="/one more/", content="More."))
    await lore.add_entry(gm(), "Regexes", EntryInput(keys="plain", content="Plain."))
    with pytest.raises(UserError, match="too many regex keys"):
        await lore.edit_entry(gm(), "Regexes", "plain", EntryInput(keys="/again/"))
    edited = await lore.edit_entry(gm(), "Regexes", "plain", EntryInput(keys="/r1/"))
    assert edited.text.startswith("Updated")  # a regex the book already has costs nothing more


def test_a_scene_files_own_lore_tables_obey_the_book_wide_caps(tmp_path: Path) -> None:
    tables = "".join(
        f'[[lore]]\nkeys = ["/fog{i}/"]\ncontent = "Fog {i}."\n' for i in range(REGEX_KEYS_MAX + 1)
    )
    scene = tmp_path / "many.toml"
    scene.write_text('[[npcs]]\nname = "Marta"\n' + tables)
    with pytest.raises(SceneFileError) as refused:
        load_scene_file(scene)
    assert "lore: That lorebook has too many regex keys" in _one_line(refused)
