"""Fairness: 60,000 real rolls against the exact distribution, by a chi-square test."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from itertools import product

from bot.dice import roll_dice

ROLLS = 60_000
# The chi-square critical values at p = 0.001 (scipy is not a dependency): a fair engine fails
# each test once in a thousand runs; a skewed one (a die that favours a face by 2%, a keep that
# drops the wrong die) fails far beyond them.
CRITICAL_P001 = {5: 20.515, 15: 37.697}


def _chi_square(observed: Counter[int], exact: dict[int, Fraction]) -> float:
    assert set(observed) <= set(exact)
    return sum(
        float((observed[value] - ROLLS * p) ** 2 / (ROLLS * p)) for value, p in exact.items()
    )


def _exact_4d6kh3() -> dict[int, Fraction]:
    counts = Counter(sum(sorted(dice)[1:]) for dice in product(range(1, 7), repeat=4))
    return {total: Fraction(n, 6**4) for total, n in counts.items()}


def test_1d6_is_fair() -> None:
    observed = Counter(roll_dice("1d6").total for _ in range(ROLLS))
    exact = {face: Fraction(1, 6) for face in range(1, 7)}
    assert _chi_square(observed, exact) < CRITICAL_P001[len(exact) - 1]


def test_4d6_keep_highest_3_matches_its_exact_distribution() -> None:
    exact = _exact_4d6kh3()
    assert len(exact) == 16 and exact[3] == Fraction(1, 1296) and exact[18] == Fraction(21, 1296)
    observed = Counter(roll_dice("4d6kh3").total for _ in range(ROLLS))
    assert _chi_square(observed, exact) < CRITICAL_P001[len(exact) - 1]
