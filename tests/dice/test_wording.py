"""The roll line a scene shows, and the breakdown when a roll is too long to read die by die."""

from __future__ import annotations

import pytest

from bot.dice import roll_dice, roll_line
from bot.dice.limits import DETAIL_MAX_CHARS
from bot.domain import DiceRoll

from .rngs import Faces, HighestFace

LINES = [
    (DiceRoll("1d20+5", 17, "12 + 5", "Stealth"), "Keri rolls 1d20+5 for Stealth: 17 (12 + 5)"),
    (DiceRoll("1d20+5", 17, "12 + 5"), "Keri rolls 1d20+5: 17 (12 + 5)"),
    (DiceRoll("1d20", 12, "12"), "Keri rolls 1d20: 12"),  # nothing to break down
    (DiceRoll("4d6kh3", 14, "[6, (1), 5, 3]"), "Keri rolls 4d6kh3: 14 ([6, (1), 5, 3])"),
    (
        DiceRoll("6d10>=8", 3, "[9✓, 3, 10✓, 8✓, 2, 1]"),
        "Keri rolls 6d10>=8: 3 successes ([9✓, 3, 10✓, 8✓, 2, 1])",
    ),
    (DiceRoll("1d20>=15", 1, "17✓", "the DC"), "Keri rolls 1d20>=15 for the DC: 1 success (17✓)"),
    (DiceRoll("2d10<3", 0, "[5, 9]"), "Keri rolls 2d10<3: 0 successes ([5, 9])"),
    (
        DiceRoll("8d10!>=8", 2, "[10!✓, 3, 7, 8✓]"),
        "Keri rolls 8d10!>=8: 2 successes ([10!✓, 3, 7, 8✓])",
    ),
    (
        DiceRoll("4d6k>3", 11, "[6, (1), 5, (3)]"),
        "Keri rolls 4d6k>3: 11 ([6, (1), 5, (3)])",
    ),  # a keep
    (DiceRoll("1d20", 4, "4", "a\nsneaky  reason"), "Keri rolls 1d20 for a sneaky reason: 4"),
    (DiceRoll("1d20", 4, "4", "   "), "Keri rolls 1d20: 4"),
]


@pytest.mark.parametrize(("rolled", "line"), LINES, ids=[line for _, line in LINES])
def test_roll_lines(rolled: DiceRoll, line: str) -> None:
    assert roll_line("Keri", rolled) == line


def test_a_rolled_success_count_reads_as_successes() -> None:
    rolled = roll_dice("3d10>=8", Faces([9, 2, 8]), reason="Perception")
    assert roll_line("Ana", rolled) == "Ana rolls 3d10>=8 for Perception: 2 successes ([9✓, 2, 8✓])"


def test_a_long_breakdown_shows_each_term_in_short() -> None:
    rolled = roll_dice("100d6+100d6-5", HighestFace())
    assert rolled.detail == "[100 dice: 600] + [100 dice: 600] - 5"
    assert rolled.total == 1195
    short = roll_dice("100d6", HighestFace())
    assert len(short.detail) <= DETAIL_MAX_CHARS and short.detail.count("6") == 100
