"""Import and export of World Info, lorebook_v3 files and card books, without losing fields."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.characters.cards import CardError, card_to_png, load_card
from bot.characters.limits import CardLimits
from bot.lore import (
    LoreEntry,
    LoreError,
    LoreLimits,
    book_from_card_book,
    export_card_book,
    load_lorebook,
)
from bot.lore.convert import entry_from_card, entry_to_card

# A World Info export as SillyTavern writes one (entries keyed by uid, its own field names),
# with its character filter (empty, as its editor leaves it) and a field it has never heard of.
ST_ENTRY: dict[str, Any] = {
    "uid": 7,
    "key": ["tithe ship", "/grey abbess/i"],
    "keysecondary": ["tax"],
    "comment": "The tithe ship",
    "content": "The Grey Abbess collects the tax.",
    "constant": False,
    "vectorized": False,
    "selective": True,
    "selectiveLogic": 3,
    "addMemo": True,
    "order": 40,
    "position": 4,
    "disable": False,
    "excludeRecursion": True,
    "preventRecursion": False,
    "delayUntilRecursion": 2,
    "probability": 80,
    "useProbability": True,
    "depth": 2,
    "outletName": "",
    "group": "ships",
    "groupOverride": False,
    "groupWeight": 100,
    "scanDepth": 6,
    "caseSensitive": True,
    "matchWholeWords": False,
    "useGroupScoring": None,
    "automationId": "",
    "role": 1,
    "sticky": 5,
    "cooldown": 2,
    "delay": None,
    "matchPersonaDescription": False,
    "matchCharacterDescription": False,
    "matchCharacterPersonality": False,
    "matchCharacterDepthPrompt": False,
    "matchScenario": True,
    "matchCreatorNotes": False,
    "triggers": ["normal"],
    "ignoreBudget": False,
    "displayIndex": 3,
    "characterFilter": {"isExclude": False, "names": [], "tags": []},
    "someFutureField": {"x": 1},
}
ST_BOOK = {
    "name": "Harbor",
    "entries": {"7": ST_ENTRY, "8": {"uid": 8, "key": ["fog"], "content": "Fog.", "order": 100}},
}

# A V3 lorebook file: optional fields, an id that is a string, a decorator in the content, and
# fields from a future version of the spec at both levels.
V3_BOOK: dict[str, Any] = {
    "spec": "lorebook_v3",
    "data": {
        "name": "Coast",
        "description": "The coast.",
        "scan_depth": 6,
        "token_budget": 300,
        "recursive_scanning": False,
        "extensions": {"app/x": [1, 2]},
        "future_book_field": True,
        "entries": [
            {
                "keys": ["reef", "Teeth"],
                "content": "@@depth 2\nThe Teeth are a reef.",
                "extensions": {"app/y": {"z": None}},
                "enabled": True,
                "insertion_order": 5,
                "case_sensitive": False,
                "use_regex": False,
                "constant": False,
                "name": "Teeth",
                "priority": 7,
                "id": "reef-1",
                "comment": "the reef",
                "selective": True,
                "secondary_keys": ["ship"],
                "position": "before_char",
                "future_entry_field": "kept",
            },
            {
                "keys": [r"high\s+tide"],
                "content": "Tunnels flood.",
                "extensions": {},
                "enabled": False,
                "insertion_order": 6,
                "use_regex": True,
            },
        ],
    },
}


def _bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def test_world_info_maps_onto_card_fields_and_sillytaverns_extensions() -> None:
    book = load_lorebook(_bytes(ST_BOOK), "harbor.json")
    entry = book.entries[0]
    assert book.name == "Harbor"
    assert entry.keys == ("tithe ship", "/grey abbess/i")
    assert entry.secondary_keys == ("tax",)
    assert (entry.uid, entry.comment, entry.insertion_order, entry.enabled) == (
        7,
        "The tithe ship",
        40,
        True,
    )
    assert (entry.placement, entry.depth, entry.role, entry.logic) == (
        "at_depth",
        2,
        "user",
        "and_all",
    )
    assert (entry.sticky, entry.scan_depth, entry.matches_case, entry.whole_words) == (
        5,
        6,
        True,
        False,
    )
    assert entry.exclude_recursion and not entry.prevent_recursion
    # SillyTavern's defaults for the fields an older export leaves out.
    short = book.entries[1]
    assert (short.selective, short.enabled, short.placement) == (True, True, "after_char")


def test_world_info_round_trips_through_a_card_book_without_losing_a_field() -> None:
    book = load_lorebook(_bytes(ST_BOOK), "harbor.json")
    exported = export_card_book(book)
    again = book_from_card_book(json.loads(json.dumps(exported)))
    assert again == book
    card_entry = exported["entries"][0]
    extensions = card_entry["extensions"]
    on_card = {
        "uid": "id",
        "key": "keys",
        "keysecondary": "secondary_keys",
        "order": "insertion_order",
    }
    for field, value in ST_ENTRY.items():
        if field == "disable":
            assert card_entry["enabled"] is (not value)
        elif field == "characterFilter":  # at the top of the card entry, as SillyTavern puts it
            assert card_entry["character_filter"] == value
            assert "characterFilter" not in extensions and "character_filter" not in extensions
        elif field in ("comment", "content", "constant", "selective", *on_card):
            assert card_entry[on_card.get(field, field)] == value, field
        else:  # in the extensions, snake_cased as SillyTavern writes them (a few keep their name)
            snake = re.sub(r"(?<!^)([A-Z])", r"_\1", field).lower()
            assert (extensions[snake] if snake in extensions else extensions[field]) == value, field
    # The card fields SillyTavern reads back: position as before_char/after_char, its number kept.
    assert card_entry["position"] == "after_char"
    assert card_entry["extensions"]["position"] == 4


def test_v3_lorebook_round_trips_exactly() -> None:
    book = load_lorebook(_bytes(V3_BOOK), "coast.json")
    assert export_card_book(book) == V3_BOOK["data"]
    first = book.entries[0]
    assert (first.uid, first.priority, first.placement, first.extras) == (
        "reef-1",
        7,
        "before_char",
        {"future_entry_field": "kept"},
    )
    assert book.extras == {"future_book_field": True}


def test_a_card_book_entry_round_trips_field_for_field() -> None:
    raw = V3_BOOK["data"]["entries"][0]
    assert entry_to_card(entry_from_card(raw)) == raw


def test_ill_typed_known_fields_are_kept_as_they_were() -> None:
    raw = {"keys": "a, b", "content": 5, "enabled": "yes", "insertion_order": "9", "extensions": {}}
    entry = entry_from_card(raw)
    assert entry.keys == ("a", "b")  # a comma-separated string, as some exporters write
    assert entry.content == "" and entry.enabled is True
    assert entry_to_card(entry)["insertion_order"] == "9"
    assert entry_to_card(entry)["content"] == 5


def test_a_cards_character_book_is_read_from_json_and_png() -> None:
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {"name": "Marta", "character_book": V3_BOOK["data"]},
    }
    from_json = load_lorebook(_bytes(card), "marta.json")
    from_png = load_lorebook(card_to_png(card), "marta.png")
    assert from_json == from_png
    assert export_card_book(from_json) == V3_BOOK["data"]


def test_a_bare_character_book_and_a_file_without_a_name() -> None:
    book = load_lorebook(_bytes({"entries": [{"keys": ["x"], "content": "X."}]}), "my book.json")
    assert book.name == "my book"
    assert book.entries[0].content == "X."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"spec": "chara_card_v2", "data": {"name": "A"}}, "not a lorebook"),
        ({"spec": "lorebook_v3"}, "no 'data' object"),
        ({"hello": 1}, "not a lorebook"),
    ],
)
def test_files_that_are_not_lorebooks(data: dict[str, Any], message: str) -> None:
    with pytest.raises(LoreError, match=message):
        load_lorebook(_bytes(data))


def test_broken_json_is_one_line() -> None:
    with pytest.raises(LoreError, match=r"^That lorebook file is not valid JSON \(line 1\)\.$"):
        load_lorebook(b'{"entries": ')
    with pytest.raises(LoreError, match="must hold a JSON object"):
        load_lorebook(b"[1, 2]")


def test_caps_on_entries_entry_length_depth_and_size() -> None:
    limits = LoreLimits(max_entries=2, entry_max_chars=10, max_depth=8, json_max_bytes=2000)
    three = {"entries": [{"keys": ["k"], "content": "c"}] * 3}
    with pytest.raises(LoreError, match=r"too many entries \(3; the limit is 2\)"):
        load_lorebook(_bytes(three), limits=limits)
    long = {"entries": [{"keys": ["k"], "content": "x" * 11, "name": "Long one"}]}
    with pytest.raises(LoreError, match=r"entry 1 \(Long one\) is too long \(11 characters"):
        load_lorebook(_bytes(long), limits=limits)
    deep: Any = "x"
    for _ in range(10):
        deep = [deep]
    with pytest.raises(LoreError, match="nested too deeply"):
        load_lorebook(_bytes({"entries": [], "extensions": {"d": deep}}), limits=limits)
    with pytest.raises(LoreError, match="too big"):
        load_lorebook(b" " * 2001, limits=limits)
    many_keys = {"entries": [{"keys": [str(i) for i in range(101)], "content": "c"}]}
    with pytest.raises(LoreError, match="too many keys"):
        load_lorebook(_bytes(many_keys))


def test_nul_characters_are_dropped_from_text() -> None:
    book = load_lorebook(_bytes({"entries": [{"keys": ["a\x00b"], "content": "c\x00d"}]}))
    assert (book.entries[0].keys, book.entries[0].content) == (("ab",), "cd")


def test_card_imports_cap_their_books_entries_too() -> None:
    card = {
        "spec": "chara_card_v2",
        "data": {
            "name": "Marta",
            "character_book": {"entries": [{"keys": [], "content": "c"}] * 3},
        },
    }
    with pytest.raises(CardError, match=r"lorebook has too many entries \(3; the limit is 2\)"):
        load_card(_bytes(card), "marta.json", CardLimits(lore_max_entries=2))


# -- character filters ----------------------------------------------------------------------------

FILTER = {"isExclude": True, "names": ["Mara", "Rook"], "tags": ["tag-1"]}


def test_a_world_info_character_filter_round_trips_as_sillytaverns_card_field() -> None:
    entry = {"uid": 0, "key": ["locket"], "content": "A locket.", "characterFilter": FILTER}
    book = load_lorebook(_bytes({"entries": {"0": entry}}), "lockets.json")
    only = book.entries[0].characters
    assert only is not None and (only.names, only.exclude) == (("Mara", "Rook"), True)
    exported = export_card_book(book)
    assert exported["entries"][0]["character_filter"] == FILTER  # tags kept, though unused
    assert "characterFilter" not in exported["entries"][0]["extensions"]
    again = load_lorebook(json.dumps(exported).encode(), "again.json")
    assert again.entries == book.entries
    assert export_card_book(again) == exported


def test_a_card_books_character_filter_round_trips_exactly() -> None:
    raw = {**V3_BOOK["data"]["entries"][0], "character_filter": FILTER}
    entry = entry_from_card(raw)
    assert entry.characters is not None and entry.characters.names == ("Mara", "Rook")
    assert entry_to_card(entry) == raw
    v3 = {"spec": "lorebook_v3", "data": {**V3_BOOK["data"], "entries": [raw]}}
    assert export_card_book(load_lorebook(_bytes(v3))) == v3["data"]


def test_a_filter_other_tools_keep_in_the_extensions_is_read_and_kept_there() -> None:
    raw = {"keys": ["locket"], "content": "A locket.", "extensions": {"character_filter": FILTER}}
    entry = entry_from_card(raw)
    assert entry.characters is not None and entry.characters.exclude
    assert entry_to_card(entry)["extensions"] == {"character_filter": FILTER}
    # A World Info file stored before filters were read kept it under its own name.
    old = LoreEntry(keys=("locket",), content="A locket.", extensions={"characterFilter": FILTER})
    assert old.characters == entry.characters
