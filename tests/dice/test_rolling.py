"""Rolling: every die comes from the roll's rng, operators do what they say, caps hold."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.dice import DiceError, roll_dice
from bot.dice.limits import DRAWS_MAX, EXPLODED_PER_TERM_MAX, TERMS_MAX

from .rngs import CountingRandom, Faces, HighestFace

SCRIPTED = [
    # (roll, faces the dice show in order, total, breakdown)
    ("1d20+5", [12], 17, "12 + 5"),
    ("1d20+1d4+3", [12, 3], 18, "12 + 3 + 3"),
    ("2d6-1", [4, 2], 5, "[4, 2] - 1"),
    ("2d6-1d4", [4, 2, 3], 3, "[4, 2] - 3"),
    ("4d6kh3", [6, 1, 5, 3], 14, "[6, (1), 5, 3]"),
    ("4d6dl1", [6, 1, 5, 3], 14, "[6, (1), 5, 3]"),
    ("4d6dh1", [6, 1, 5, 3], 9, "[(6), 1, 5, 3]"),
    ("2d20kl1", [17, 4], 4, "[(17), 4]"),
    ("2d20kh1", [17, 4], 17, "[17, (4)]"),
    ("4d6k>3", [6, 1, 5, 3], 11, "[6, (1), 5, (3)]"),
    ("4d6d<3", [6, 1, 5, 3], 14, "[6, (1), 5, 3]"),
    ("1d20rr1", [1, 1, 9], 9, "[1→1→9]"),  # rerolled until it is not a 1
    ("3d6rr1", [1, 5, 1, 2, 4], 11, "[1→2, 5, 1→4]"),  # the dice in order
    ("2d6ro<3", [1, 2, 1, 5], 6, "[1→1, 2→5]"),  # once each, whatever comes
    ("1d6!", [6, 6, 2], 14, "[6!, 6!, 2]"),
    ("1d6e6", [6, 3], 9, "[6!, 3]"),
    ("2d10e>8", [9, 4, 10, 1], 24, "[9!, 4, 10!, 1]"),
    ("3d6ra6", [6, 6, 1, 6], 19, "[6!, 6, 1, 6]"),  # only the first 6 adds a die
    ("3d6ra5ra6", [6, 5, 1, 2], 14, "[6, 5!, 1, 2]"),  # the first selector that picks wins
    ("4d6!kh3", [6, 1, 2, 3, 4], 13, "[6!, (1), (2), 3, 4]"),
    ("4d6rr1kh3", [1, 2, 3, 4, 5], 12, "[1→5, (2), 3, 4]"),
    ("1d20mi10", [3], 10, "[3→10]"),
    ("1d20ma15", [19], 15, "[19→15]"),
    ("6d10>=8", [9, 3, 10, 8, 2, 1], 3, "[9✓, 3, 10✓, 8✓, 2, 1]"),
    ("6d10>8", [9, 3, 10, 8, 2, 1], 2, "[9✓, 3, 10✓, 8, 2, 1]"),
    ("6d10<=2", [9, 3, 10, 8, 2, 1], 2, "[9, 3, 10, 8, 2✓, 1✓]"),
    ("6d10<3", [9, 3, 10, 8, 2, 1], 2, "[9, 3, 10, 8, 2✓, 1✓]"),
    ("3d10!>=8", [10, 3, 7, 8], 2, "[10!✓, 3, 7, 8✓]"),
    ("3d10kh2>=3", [10, 3, 1], 2, "[10✓, 3✓, (1)]"),  # dropped dice never count
    ("2d10>=8", [1, 2], 0, "[1, 2]"),
    ("1d20>=15", [17], 1, "17✓"),
    ("1d20>=15", [14], 0, "14"),
    ("1d1", [1], 1, "1"),
]


@pytest.mark.parametrize(
    ("text", "faces", "total", "detail"), SCRIPTED, ids=[s[0] for s in SCRIPTED]
)
def test_each_operator_on_known_faces(text: str, faces: list[int], total: int, detail: str) -> None:
    rng = Faces(faces)
    rolled = roll_dice(text, rng, reason="Stealth")
    assert (rolled.total, rolled.detail, rolled.reason) == (total, detail, "Stealth")
    assert rng.faces == []  # exactly the dice the roll needed were drawn


def test_every_die_comes_from_the_given_rng_and_never_from_the_random_module() -> None:
    random.seed(1234)
    before = random.getstate()
    rng = CountingRandom(5)
    rolled = roll_dice("10d6!+4d6kh3+2d20rr1+3d8ro<3", rng)
    assert rng.draws >= 10 + 4 + 2 + 3
    assert rolled.total > 0
    for text in ("1d20", "8d10!>=8", "4d6rr1kh3"):
        roll_dice(text)  # the operating system's randomness
    assert random.getstate() == before  # d20's module-level generator was never drawn from


SEEDED = ["1d20+5", "4d6kh3", "10d6!", "20d6rr<3", "20d6ro<4", "12d6ra6ra5", "8d10!>=8", "1d20mi10"]


@pytest.mark.parametrize("text", SEEDED)
def test_same_seed_same_rolls(text: str) -> None:
    for seed in range(40):
        first = roll_dice(text, random.Random(seed))
        again = roll_dice(text, random.Random(seed))
        assert first == again
    details = {roll_dice(text, random.Random(seed)).detail for seed in range(40)}
    assert len(details) > 1  # and the seed matters


def test_concurrent_rolls_keep_their_own_generators() -> None:
    def series(seed: int) -> list[tuple[int, str]]:
        rng = random.Random(seed)
        return [(r.total, r.detail) for r in (roll_dice("6d6!rr1", rng) for _ in range(150))]

    alone = [series(seed) for seed in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(series, range(6)))
    assert together == alone


def test_explosions_stop_at_the_cap_per_term() -> None:
    rng = HighestFace()
    rolled = roll_dice("1d6!", rng)
    assert rng.draws == 1 + EXPLODED_PER_TERM_MAX
    assert rolled.total == 6 * (1 + EXPLODED_PER_TERM_MAX)
    assert rolled.detail.count("6!") == EXPLODED_PER_TERM_MAX  # the last die added did not
    # `ra` and `e` on one term share the cap.
    rng = HighestFace()
    assert roll_dice("2d6ra6e6", rng).total == 6 * (2 + EXPLODED_PER_TERM_MAX)
    assert rng.draws == 2 + EXPLODED_PER_TERM_MAX


def test_the_largest_exploding_roll_stays_within_its_caps() -> None:
    rng = HighestFace()
    text = "+".join(["100d6!"] * TERMS_MAX)
    rolled = roll_dice(text, rng)
    per_term = 100 + EXPLODED_PER_TERM_MAX
    assert rng.draws == TERMS_MAX * per_term <= DRAWS_MAX
    assert rolled.total == 6 * TERMS_MAX * per_term
    # Too long to read die by die: each term says how many dice it rolled and their sum.
    assert rolled.detail == " + ".join([f"[{per_term} dice: {6 * per_term}]"] * TERMS_MAX)


def test_success_counts_on_exploding_dice_stay_within_the_cap() -> None:
    rng = HighestFace()
    rolled = roll_dice("100d10!>=8", rng)
    assert rolled.total == 100 + EXPLODED_PER_TERM_MAX == rng.draws
    assert rolled.detail == f"[{rolled.total} dice: {rolled.total}✓]"


def test_endless_rerolls_are_refused_at_the_draw_cap() -> None:
    rng = HighestFace()  # a d20 that always shows 20 never leaves `rr20`
    with pytest.raises(DiceError) as refused:
        roll_dice("1d20rr20", rng)
    assert (
        str(refused.value)
        == f"That roll kept rerolling past {DRAWS_MAX:,} dice; reroll on fewer faces."
    )
    assert rng.draws == DRAWS_MAX


def test_reroll_once_draws_once_per_die() -> None:
    rng = HighestFace()
    assert roll_dice("10d6ro6", rng).total == 60
    assert rng.draws == 20
