"""Reading dice: what each notation normalises to, and every refusal, before any die is drawn."""

from __future__ import annotations

import pytest

from bot.dice import DiceError, check_dice, roll_dice
from bot.dice.limits import EXPR_MAX_CHARS

from .rngs import CountingRandom

VALID = [
    ("1d20", "1d20"),
    ("d20", "1d20"),  # a bare d20 is one die
    ("1D20 + 5", "1d20+5"),  # case and spaces do not matter
    (" 1d20\t+\n5 ", "1d20+5"),
    ("1d20+1d4+3", "1d20+1d4+3"),
    ("2d6-1", "2d6-1"),
    ("2d6-1d4+d8", "2d6-1d4+1d8"),
    ("4d6kh3", "4d6kh3"),
    ("2d20kl1", "2d20kl1"),
    ("2d20kh1", "2d20kh1"),
    ("4d6dl1", "4d6dl1"),  # Roll20 and Dice Maiden's drop
    ("4d6pl1", "4d6dl1"),  # Avrae's drop, written the common way
    ("4d6dh1", "4d6dh1"),
    ("4d6k>3", "4d6k>3"),
    ("4d6d<3", "4d6d<3"),
    ("4d6kh1kl1", "4d6kh1kl1"),
    ("1d20rr1", "1d20rr1"),
    ("2d6rr<3", "2d6rr<3"),
    ("2d6ro<3", "2d6ro<3"),
    ("2d6ro1ro2", "2d6ro1ro2"),
    ("1d20rr1rr2", "1d20rr1rr2"),
    ("8d6ra6", "8d6ra6"),
    ("1d6!", "1d6!"),  # Dice Maiden's explode on the highest face
    ("1d6e6", "1d6!"),  # Avrae's spelling of the same
    ("3d10e>8", "3d10e>8"),
    ("1d6e5", "1d6e5"),
    ("4d6!kh3", "4d6!kh3"),
    ("4d6rr1kh3", "4d6rr1kh3"),
    ("1d20mi10", "1d20mi10"),
    ("1d20ma15", "1d20ma15"),
    ("6d10>=8", "6d10>=8"),  # success counting
    ("6d10>8", "6d10>8"),
    ("6d10<=2", "6d10<=2"),
    ("6d10<3", "6d10<3"),
    ("8d10!>=8", "8d10!>=8"),
    ("5d10e10kh3 >= 7", "5d10!kh3>=7"),
    ("1d20>=15", "1d20>=15"),
    ("01d020+007", "1d20+7"),
    ("100d10000", "100d10000"),
    ("1d1", "1d1"),
    ("1d20+1000000", "1d20+1000000"),
    ("+".join(["1d6"] * 20), "+".join(["1d6"] * 20)),  # 20 terms
    ("1d20" + "+1" * 19, "1d20" + "+1" * 19),
]


@pytest.mark.parametrize(("text", "normal"), VALID, ids=[t for t, _ in VALID])
def test_valid_rolls_normalise(text: str, normal: str) -> None:
    assert check_dice(text) == normal
    assert check_dice(normal) == normal  # the normal form reads back as itself
    assert roll_dice(text, CountingRandom(1)).expr == normal


HOSTILE = [
    ("", "nothing to roll"),
    ("   ", "nothing to roll"),
    ("abc", "'b' is not part of dice notation"),
    ("1d20 for stealth", "'f' is not part of dice notation"),
    ("1d20*2", "'*' is not part of dice notation"),
    ("(1d6)", "'(' is not part of dice notation"),
    ("1d%", "'%' is not part of dice notation"),
    ("1.5d6", "'.' is not part of dice notation"),
    ("1d6[fire]", "'[' is not part of dice notation"),
    ("1d20 💀", "'💀' is not part of dice notation"),
    ("1d20\x00", "U+0000 is not part of dice notation"),
    ("1d20+", "'1d20+' stops too soon"),
    ("2d", "'2d' stops too soon"),
    ("d", "'d' stops too soon"),
    ("4d6kh", "'4d6kh' stops too soon"),
    ("dd6", "'dd6' is not dice notation I can read"),
    ("1d6!!", "'1d6!!' is not dice notation I can read"),  # Roll20's compounding
    ("1d6!5", "'1d6!5' is not dice notation I can read"),
    ("5!", "'5!' is not dice notation I can read"),
    ("1d20++5", "A + or - needs a term on each side"),
    ("6d10!=8", "'6d10!=8' is not dice notation I can read"),
    ("d0", "1d0 has dice with no sides"),
    ("1d0", "1d0 has dice with no sides"),
    ("3d0+1d6", "3d0 has dice with no sides"),
    ("0d6", "0d6 rolls no dice"),
    ("500d6", "That roll has 500 dice in one term; the limit is 100."),
    ("1d6+101d6", "That roll has 101 dice in one term; the limit is 100."),
    ("1d10001", "That roll has dice with 10,001 sides; the limit is 10,000."),
    ("1d20+1000001", "Numbers in a roll go up to 1,000,000."),
    ("1d20+" + "9" * 150, "Numbers in a roll go up to 1,000,000."),
    ("9" * 150 + "d6", "Numbers in a roll go up to 1,000,000."),
    ("1d6kh99999999", "Numbers in a roll go up to 1,000,000."),
    ("+".join(["1d6"] * 21), "That roll has 21 terms; the limit is 20"),
    ("1d20" + "+1" * 20, "That roll has 21 terms; the limit is 20"),
    ("1d6+" * 49 + "1d6", "That roll has 50 terms; the limit is 20"),
    ("1" * (EXPR_MAX_CHARS + 1), "201 characters long; the limit is 200"),
    ("1d6" + " " * EXPR_MAX_CHARS, "203 characters long; the limit is 200"),
    # 200 characters as typed, 220 once each `d6` is written `1d6`.
    ("d6+" * 19 + "d6" + "kh1" * 47, "220 characters long; the limit is 200"),
    ("5", "no dice in it"),
    ("1+2", "no dice in it"),
    ("1d20+-2", "A + or - needs a term on each side"),
    ("-2+1d20", "A + or - needs a term on each side"),
    ("+1d20", "A + or - needs a term on each side"),
    ("4d6k3", "k3 is ambiguous: write kh3"),
    ("4d6d1", "d1 is ambiguous: write dh1"),
    ("4d6p1", "d1 is ambiguous: write dh1"),
    ("1d20rrh1", "rr picks faces to reroll"),
    ("1d20rol1", "ro picks faces to reroll once"),
    ("1d6eh1", "e picks faces to explode"),
    ("1d6rah1", "ra picks faces to explode once"),
    ("1d6rr<7", "1d6rr<7 would reroll on every face, forever"),
    ("1d6rr>0", "1d6rr>0 would reroll on every face, forever"),
    ("1d6rr<4rr>2", "1d6rr<4rr>2 would reroll on every face, forever"),
    ("1d6rr1rr2rr3rr4rr5rr6", "would reroll on every face, forever"),
    ("1d1!", "1d1! would explode on every face, forever"),
    ("1d2e1e2", "1d2e1! would explode on every face, forever"),
    ("2d6e>0", "2d6e>0 would explode on every face, forever"),
    ("1d6mi7", "mi sets a minimum face, a number from 1 to 6"),
    ("1d6mi0", "mi sets a minimum face"),
    ("1d6ma<3", "ma sets a maximum face"),
    ("6d10==8", "Count successes with >=, >, <= or <"),
    ("1d6+1>=3", "Success counting takes one dice term"),
    ("1d6>2>1", "Success counting takes one dice term"),
    ("6>=1d6", "Success counting takes one dice term"),
    ("6d10>=1d4", "Success counting compares each die with one number"),
    ("6d10>=8+1", "Success counting compares each die with one number"),
]


@pytest.mark.parametrize(("text", "says"), HOSTILE, ids=[repr(t)[:40] for t, _ in HOSTILE])
def test_refused_before_any_die_is_drawn(text: str, says: str) -> None:
    rng = CountingRandom()
    with pytest.raises(DiceError) as refused:
        roll_dice(text, rng)
    message = str(refused.value)
    assert says in message
    assert rng.draws == 0
    assert "\n" not in message and len(message) < 200
    # Nothing of d20's or lark's own text reaches a player.
    for leak in ("Unexpected", "Token", "expected", "$END", "line 1", "col "):
        assert leak not in message
    with pytest.raises(DiceError):
        check_dice(text)


def test_rolls_keep_some_face_when_rerolls_and_explosions_leave_one_out() -> None:
    # The every-face refusal only fires when every face is picked: these roll.
    for text in ("1d6rr1rr2rr3rr4rr5", "1d6rr<6", "1d2!", "1d6e>1", "1d6ro<7", "1d6ra>0"):
        assert check_dice(text)
