"""Golden tests of lore activation: keys, secondary logic, constant, recursion, sticky, budget."""

from __future__ import annotations

import pytest

from bot.lore import LoreConfig
from tests.lore.helpers import activate, book, fired

FOG = {"keys": ["fog"], "content": "The fog is called the Widow's Veil."}


def test_a_key_in_the_recent_turns_fires_the_entry_and_says_which() -> None:
    assert fired(book(FOG), ["Rook: Thick fog tonight."]) == {
        "The fog is called the Widow's Veil.": 'key "fog"'
    }


def test_no_key_no_entry() -> None:
    assert fired(book(FOG), ["Rook: Clear skies tonight."]) == {}


def test_keys_match_whole_words_only_by_default() -> None:
    assert fired(book(FOG), ["Rook: Foggy, foghorn, befogged."]) == {}
    assert fired(book(FOG), ['Rook: "Fog!" he cried.']) != {}


def test_keys_can_match_inside_words_when_the_entry_says_so() -> None:
    loose = book({**FOG, "whole_words": False})
    assert fired(loose, ["Rook: A foghorn sounds."]) != {}


def test_keys_ignore_case_unless_the_entry_is_case_sensitive() -> None:
    assert fired(book(FOG), ["Rook: FOG everywhere."]) != {}
    strict = book({**FOG, "keys": ["Fog"], "case_sensitive": True})
    assert fired(strict, ["Rook: fog everywhere."]) == {}
    assert fired(strict, ["Rook: Fog everywhere."]) != {}


def test_a_phrase_key_matches_across_any_white_space_but_only_whole() -> None:
    ship = book({"keys": ["tithe ship"], "content": "The tithe ship."})
    assert fired(ship, ["Marta: the tithe\n  ship is late"]) != {}
    assert fired(ship, ["Marta: the tithe shipment is late"]) == {}


def test_regex_keys_with_flags() -> None:
    hale = book({"keys": ["/serg(ean)?t hale/i"], "content": "Hale is ambitious."})
    assert fired(hale, ["Rook: SERGT HALE again"]) == {
        "Hale is ambitious.": 'key "/serg(ean)?t hale/i"'
    }
    assert fired(hale, ["Rook: the sergeant"]) == {}


def test_an_invalid_regex_never_matches() -> None:
    broken = book({"keys": ["/(unclosed/"], "content": "Never."}, {**FOG})
    assert list(fired(broken, ["Rook: (unclosed fog"])) == ["The fog is called the Widow's Veil."]


def test_use_regex_makes_every_key_a_pattern() -> None:
    tide = book({"keys": [r"high\s+tide"], "use_regex": True, "content": "The tunnels flood."})
    assert fired(tide, ["Rook: at HIGH   tide"]) != {}


def test_a_catastrophic_regex_is_switched_off_not_left_to_hang() -> None:
    evil = book({"keys": ["/(x+x+)+y/"], "content": "Evil."}, {**FOG})
    turns = ["Rook: " + "x" * 5000 + " fog"]
    assert list(fired(evil, turns)) == ["The fog is called the Widow's Veil."]


def test_constant_entries_are_always_in_and_disabled_ones_never() -> None:
    lore = book(
        {"content": "Always.", "constant": True},
        {**FOG, "content": "Disabled.", "enabled": False},
    )
    assert fired(lore, ["Rook: fog"]) == {"Always.": "constant"}


@pytest.mark.parametrize(
    ("logic", "turn", "why"),
    [
        ("and_any", "Marta checks the ledger.", 'key "Marta" (AND ANY: "ledger")'),
        ("and_any", "Marta waves.", None),
        (
            "and_all",
            "Marta checks the ledger for the tithe.",
            'key "Marta" (AND ALL: "ledger", "tithe")',
        ),
        ("and_all", "Marta checks the ledger.", None),
        ("not_any", "Marta waves.", 'key "Marta" (NOT ANY: none of "ledger", "tithe")'),
        ("not_any", "Marta checks the ledger.", None),
        ("not_all", "Marta checks the ledger.", 'key "Marta" (NOT ALL: "tithe" absent)'),
        ("not_all", "Marta checks the ledger for the tithe.", None),
    ],
)
def test_each_selective_logic(logic: str, turn: str, why: str | None) -> None:
    secret = book(
        {"keys": ["Marta"], "secondary_keys": ["ledger", "tithe"], "logic": logic, "content": "S."}
    )
    assert fired(secret, [f"Rook: {turn}"]) == ({"S.": why} if why else {})


def test_secondary_keys_count_only_for_selective_entries() -> None:
    loose = book(
        {"keys": ["Marta"], "secondary_keys": ["ledger"], "selective": False, "content": "S."}
    )
    assert fired(loose, ["Rook: Marta waves."]) == {"S.": 'key "Marta"'}


def test_only_the_last_scan_depth_turns_are_scanned() -> None:
    turns = ["Rook: fog", "a: 1", "b: 2", "c: 3", "d: 4"]
    assert fired(book(FOG), turns, LoreConfig(scan_depth=4, sticky=0)) == {}
    assert fired(book(FOG), turns, LoreConfig(scan_depth=5, sticky=0)) != {}
    assert fired(book(FOG, scan_depth=5), turns, LoreConfig(scan_depth=1, sticky=0)) != {}
    deep = book({**FOG, "scan_depth": 5})
    assert fired(deep, turns, LoreConfig(scan_depth=1, sticky=0)) != {}


def test_turns_are_scanned_with_the_speaker_name() -> None:
    marta = book({"keys": ["Marta"], "content": "About Marta."})
    assert fired(marta, ["Marta: Hello."]) != {}


CHAIN = (
    {"keys": ["lamps"], "content": "The lamps are lit by Pell."},
    {"keys": ["Pell"], "content": "Pell was paid by a stranger."},
    {"keys": ["stranger"], "content": "The stranger wore grey."},
    {"keys": ["grey"], "content": "Grey is the Abbess's colour."},
)


def test_fired_content_triggers_further_entries_up_to_the_recursion_bound() -> None:
    reasons = fired(book(*CHAIN), ["Rook: the lamps are out"], LoreConfig(max_recursion=2))
    assert reasons == {
        "The lamps are lit by Pell.": 'key "lamps"',
        "Pell was paid by a stranger.": 'key "Pell", recursion level 1 from lamps',
        "The stranger wore grey.": 'key "stranger", recursion level 2 from Pell',
    }
    assert len(fired(book(*CHAIN), ["Rook: lamps"], LoreConfig(max_recursion=3))) == 4
    assert len(fired(book(*CHAIN), ["Rook: lamps"], LoreConfig(max_recursion=0))) == 1


def test_prevent_and_exclude_recursion() -> None:
    quiet = book({**CHAIN[0], "prevent_recursion": True}, *CHAIN[1:])
    assert list(fired(quiet, ["Rook: lamps"])) == ["The lamps are lit by Pell."]
    shy = book(CHAIN[0], {**CHAIN[1], "exclude_recursion": True}, *CHAIN[2:])
    assert list(fired(shy, ["Rook: lamps"])) == ["The lamps are lit by Pell."]
    assert "Pell was paid by a stranger." in fired(shy, ["Rook: lamps and Pell"])


def test_a_book_without_recursive_scanning_is_not_triggered_by_content() -> None:
    flat = book(*CHAIN, recursive_scanning=False)
    assert list(fired(flat, ["Rook: lamps"])) == ["The lamps are lit by Pell."]


def test_a_fired_entry_stays_in_for_sticky_turns() -> None:
    turns = ["Rook: fog", "a: 1", "b: 2", "c: 3"]
    config = LoreConfig(scan_depth=1, sticky=3)
    why = 'sticky: fired 3 turn(s) ago by key "fog"; 0 more turn(s)'
    assert fired(book(FOG), turns, config) == {"The fog is called the Widow's Veil.": why}
    assert fired(book(FOG), [*turns, "d: 4"], config) == {}
    assert fired(book({**FOG, "sticky": 4}), [*turns, "d: 4"], config) != {}
    assert fired(book(FOG), turns, LoreConfig(scan_depth=1, sticky=0)) == {}


def test_entries_come_in_insertion_order() -> None:
    lore = book(
        {"keys": ["fog"], "content": "Third.", "order": 30},
        {"keys": ["fog"], "content": "First.", "order": 10},
        {"keys": ["fog"], "content": "Second.", "order": 20},
    )
    assert list(fired(lore, ["Rook: fog"])) == ["First.", "Second.", "Third."]


async def test_over_budget_the_lowest_priority_then_insertion_order_goes_first() -> None:
    lore = book(
        {"keys": ["fog"], "content": "one two three", "order": 1, "priority": 5},
        {"keys": ["fog"], "content": "four five six", "order": 2, "priority": 1},
        {"keys": ["fog"], "content": "seven eight nine", "order": 3, "priority": 1},
        {"keys": ["fog"], "content": "ten eleven twelve", "order": 4, "priority": 9},
    )
    # Every entry costs its three words plus one token for its line break.
    result = await activate([lore], ["Rook: fog"], budget=8)
    assert [e.content for e in result.fired] == ["one two three", "ten eleven twelve"]
    assert [e.content for e in result.dropped] == ["four five six", "seven eight nine"]
    assert result.used == 8
    result = await activate([lore], ["Rook: fog"], budget=12)
    assert [e.content for e in result.dropped] == ["four five six"]


async def test_a_books_own_token_budget_applies_first() -> None:
    small = book(
        {"keys": ["fog"], "content": "one two three", "order": 2},
        {"keys": ["fog"], "content": "four five six", "order": 1},
        token_budget=4,
    )
    result = await activate([small], ["Rook: fog"], budget=100)
    assert [e.content for e in result.fired] == ["one two three"]


async def test_macros_resolve_in_fired_content() -> None:
    lore = book({"keys": ["fog"], "content": "{{char}} fears the fog; <USER> does not."})
    result = await activate([lore], ["Rook: fog"], char="Marta", user="Rook and Ilse")
    assert result.before == ()
    assert result.after == ("Marta fears the fog; Rook and Ilse does not.",)


async def test_placements_and_depth_blocks() -> None:
    lore = book(
        {"keys": ["fog"], "content": "Before.", "position": "before_char"},
        {"keys": ["fog"], "content": "After."},
        {
            "keys": ["fog"],
            "content": "Deep user.",
            "position": "at_depth",
            "depth": 2,
            "role": "user",
        },
        {"keys": ["fog"], "content": "Deep A.", "position": "at_depth", "depth": 2, "order": 1},
        {"keys": ["fog"], "content": "Deep B.", "position": "at_depth", "depth": 2, "order": 2},
        {"keys": ["fog"], "content": "Last.", "position": "at_depth", "depth": 0},
    )
    result = await activate([lore], ["Rook: fog"])
    assert result.before == ("Before.",)
    assert result.after == ("After.",)
    assert [(i.depth, i.role, i.text) for i in result.inserts] == [
        (2, "system", "Deep A.\nDeep B."),
        (2, "user", "Deep user."),
        (0, "system", "Last."),
    ]
