"""SillyTavern's cooldown: replayed from the turns, so the same turns give the same lore."""

from __future__ import annotations

from typing import Any

import pytest

from bot.lore import LoreConfig, book_from_world_info
from bot.lore.cooldown import COOLDOWN_REPLAY, replay, replay_horizon
from bot.lore.tables import TableError, entry_from_table
from bot.lore.wording import entry_text
from tests.lore.helpers import book, fired


def _storm(**fields: Any) -> dict[str, Any]:
    return {"keys": ["storm"], "content": "The storm.", **fields}


def _each_prompt(lore: Any, turns: list[str], config: LoreConfig) -> list[str | None]:
    """Why the entry is in the prompt after each turn, as the scene grows (None: it is not)."""
    return [fired(lore, turns[: n + 1], config).get("The storm.") for n in range(len(turns))]


def test_a_cooldown_skips_that_many_prompts_after_each_activation() -> None:
    config = LoreConfig(scan_depth=1, sticky=0)
    turns = [f"A storm, night {i}." for i in range(9)]
    always = _each_prompt(book(_storm()), turns, config)
    assert always == ['key "storm"'] * 9  # the control: without a cooldown it never rests
    cooled = _each_prompt(book(_storm(cooldown=2)), turns, config)
    assert [why is not None for why in cooled] == [True, False, False] * 3


def test_the_cooldown_starts_when_the_sticky_stay_ends() -> None:
    config = LoreConfig(scan_depth=1)
    lore = book(_storm(sticky=2, cooldown=1))
    turns = ["A storm.", "Calm.", "Calm.", "Calm.", "A storm.", "A storm."]
    assert _each_prompt(lore, turns, config) == [
        'key "storm"',
        'sticky: fired 1 turn(s) ago by key "storm"; 1 more turn(s)',
        'sticky: fired 2 turn(s) ago by key "storm"; 0 more turn(s)',
        None,  # cooling down (without a cooldown it would be out anyway: no key)
        'key "storm"',
        'key "storm"',
    ]
    # Keys during the stay change nothing: the stay ends on time and the cooldown follows.
    busy = _each_prompt(lore, ["A storm."] * 5, config)
    assert [why is not None for why in busy] == [True, True, True, False, True]


def test_a_constant_entry_with_a_cooldown_rests_too() -> None:
    lore = book({"constant": True, "content": "The storm.", "cooldown": 1, "sticky": 0})
    found = _each_prompt(lore, ["One.", "Two.", "Three.", "Four."], LoreConfig())
    assert found == ["constant", None, "constant", None]


def test_a_long_history_replays_a_bounded_number_of_prompts() -> None:
    assert replay_horizon(3, 5) == 27
    assert replay_horizon(10, 50) == COOLDOWN_REPLAY
    asked: list[int] = []

    def fires(ago: int) -> str:
        asked.append(ago)
        return "key"

    replay(fires, 0, 1, replay_horizon(0, 1))
    # Oldest first; a prompt in its cooldown is not even asked.
    assert asked == [6, 4, 2]


def test_cooldown_is_a_scene_file_field_shown_and_read_from_world_info() -> None:
    entry = entry_from_table(_storm(cooldown=4))
    assert entry.cooldown == 4
    assert "cooldown 4" in entry_text("Harbor", 1, entry)
    with pytest.raises(TableError, match="cooldown must be a whole number"):
        entry_from_table(_storm(cooldown=-1))
    exported = {"key": ["storm"], "content": "x", "cooldown": 3}  # SillyTavern's own field
    world = book_from_world_info({"entries": {"0": exported}})
    assert world.entries[0].cooldown == 3
