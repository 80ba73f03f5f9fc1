"""SillyTavern's trigger chance, delay and inclusion groups, drawn the same for the same turns."""

from __future__ import annotations

from typing import Any

from bot.lore import CompiledBook, Lorebook, LoreConfig, scan_lore
from tests.lore.helpers import book, fired


def _entry(content: str, **fields: Any) -> dict[str, Any]:
    return {"keys": ["storm"], "content": content, **fields}


def test_a_zero_chance_never_fires_and_a_full_one_always_does() -> None:
    lore = book(_entry("Never.", probability=0), _entry("Always.", probability=100))
    for i in range(20):
        assert set(fired(lore, [f"A storm, night {i}."])) == {"Always."}


def test_a_chance_can_be_switched_off() -> None:
    (off,) = book(_entry("Always.", probability=0)).entries
    off.extensions["useProbability"] = False  # as a World Info file can say
    assert off.chance == 100
    assert set(fired(Lorebook(entries=(off,)), ["A storm."])) == {"Always."}


def test_a_half_chance_fires_on_some_turns_and_the_same_turns_draw_the_same() -> None:
    lore = book(_entry("Sometimes.", probability=50))
    draws = [bool(fired(lore, [f"A storm, night {i}."])) for i in range(40)]
    assert 5 < sum(draws) < 35
    assert draws == [bool(fired(lore, [f"A storm, night {i}."])) for i in range(40)]


def test_a_delayed_entry_waits_for_enough_turns_in_the_scene() -> None:
    compiled = CompiledBook(book(_entry("Later.", delay=5)))
    turns = ["Calm.", "Calm.", "A storm."]
    assert scan_lore([compiled], turns, LoreConfig()) == []
    assert scan_lore([compiled], turns, LoreConfig(), scene_turns=4) == []
    (late,) = scan_lore([compiled], turns, LoreConfig(), scene_turns=5)
    assert late.entry.entry.content == "Later."


def test_one_entry_of_an_inclusion_group_goes_in() -> None:
    lore = book(
        _entry("Rain.", group="weather"),
        _entry("Hail.", group="weather"),
        _entry("Wind.", group="weather, sky"),
        _entry("Thunder."),
    )
    for i in range(10):
        found = set(fired(lore, [f"A storm, night {i}."]))
        assert "Thunder." in found
        assert len(found & {"Rain.", "Hail.", "Wind."}) == 1


def test_the_weighted_draw_never_picks_a_zero_weight() -> None:
    lore = book(_entry("Rain.", group="weather", group_weight=0), _entry("Hail.", group="weather"))
    for i in range(10):
        assert set(fired(lore, [f"A storm, night {i}."])) == {"Hail."}


def test_a_prioritised_entry_wins_its_group_by_insertion_order() -> None:
    lore = book(
        _entry("Rain.", group="weather", order=300),
        _entry("Hail.", group="weather", group_override=True, order=10),
        _entry("Sleet.", group="weather", group_override=True, order=20),
    )
    for i in range(5):
        assert set(fired(lore, [f"A storm, night {i}."])) == {"Sleet."}


def test_a_sticky_entry_keeps_its_group_place() -> None:
    lore = book(
        {"keys": ["rain"], "content": "Rain.", "group": "weather"},
        {"keys": ["hail"], "content": "Hail.", "group": "weather", "group_override": True},
    )
    # Rain fired a turn ago and is sticky; hail fires now and is prioritised, but rain stays.
    assert fired(lore, ["Rain falls.", "Now hail."], LoreConfig(scan_depth=1, sticky=2)) == {
        "Rain.": 'sticky: fired 1 turn(s) ago by key "rain"; 1 more turn(s)'
    }


def test_delay_and_chance_hold_for_constant_entries_too() -> None:
    """As in SillyTavern: a constant entry is always activated, then filtered like any other."""
    compiled = CompiledBook(
        book(
            {"constant": True, "content": "Later.", "delay": 3},
            {"constant": True, "content": "Never.", "probability": 0},
            {"constant": True, "content": "Always."},
        )
    )
    early = scan_lore([compiled], ["One.", "Two."], LoreConfig())
    assert [c.entry.entry.content for c in early] == ["Always."]
    late = scan_lore([compiled], ["One.", "Two.", "Three."], LoreConfig())
    assert sorted(c.entry.entry.content for c in late) == ["Always.", "Later."]
