"""Everything a person reads about dice: the refusals, the breakdown of a roll, the roll line.

The breakdown is plain text that reads the same in Discord and in a terminal, so it uses no
Markdown (no `~~struck~~` or `**bold**`, which a terminal shows as asterisks and tildes, and
which a player's own text could unbalance), only marks that neither renders specially:

    12 + 5                 one die, then a modifier (a lone die with a history is in [])
    [6, 5, 3, (1)]         a term of several dice; (1) was dropped by keep/drop
    [1→4, 6]               a die rerolled (rr/ro) from 1 to 4, or raised to a minimum (mi/ma)
    [6!, 6!, 2]            6! exploded: the die after it is the one it added
    [9✓, 3, 10✓]           success counting: ✓ marks each die that counts

A breakdown over `DETAIL_MAX_CHARS` shows each dice term as `[N dice: sum]` instead.
"""

from __future__ import annotations

import re
from typing import Any

import d20  # type: ignore[import-untyped]

from bot.domain import DiceRoll

from .limits import (
    DETAIL_MAX_CHARS,
    DICE_PER_TERM_MAX,
    DRAWS_MAX,
    EXPR_MAX_CHARS,
    NUMBER_MAX,
    SIDES_MAX,
    TERMS_MAX,
    TIMES_MAX,
)

EXAMPLES = "rolls look like 1d20+5, 4d6kh3, 2d20kl1, 1d20rr1, 1d6! or 6d10>=8"
SUCCESS_MARK = "✓"
REROLL_MARK = "→"
EXPLODE_MARK = "!"

EMPTY = f"There is nothing to roll: {EXAMPLES}."
NO_DICE = f"That roll has no dice in it; {EXAMPLES}."
NUMBER_TOO_BIG = f"Numbers in a roll go up to {NUMBER_MAX:,}."
SIGN = "A + or - needs a term on each side: write 1d20-2, not 1d20+-2 or -2+1d20."
SUCCESS_COMPARISONS = "Count successes with >=, >, <= or <, like 6d10>=8."
SUCCESS_ONE_TERM = "Success counting takes one dice term before the comparison, like 6d10>=8."
SUCCESS_TARGET = "Success counting compares each die with one number, like 6d10>=8."
TIMES = f"--times takes 1 to {TIMES_MAX:,} rolls."

# A normalised success count ends in a comparison after the dice term: `6d10>=8`, `8d10!>=8`
# (a selector's `<`/`>` follows a letter: `k>3`).
_SUCCESS_TAIL = re.compile(r"[\d!](?:>=|<=|>|<)\d+$")
_KEEP_WORDS = {"k": "keep", "d": "drop"}
_FACE_OP_WORDS = {"rr": "reroll", "ro": "reroll once", "ra": "explode once", "e": "explode"}
_BOUND_WORDS = {"mi": "minimum", "ma": "maximum"}


def too_long(chars: int) -> str:
    return f"That roll is {chars:,} characters long; the limit is {EXPR_MAX_CHARS}."


def not_notation(char: str) -> str:
    shown = f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"
    return f"{shown} is not part of dice notation; {EXAMPLES}."


def too_many_dice(count: int) -> str:
    return f"That roll has {count:,} dice in one term; the limit is {DICE_PER_TERM_MAX}."


def too_many_sides(sides: int) -> str:
    return f"That roll has dice with {sides:,} sides; the limit is {SIDES_MAX:,}."


def no_dice_in_term(count: int, sides: int) -> str:
    return f"{count}d{sides} rolls no dice; roll at least 1, like 1d{sides}."


def no_sides(count: int) -> str:
    return f"{count}d0 has dice with no sides; a die needs at least 1, like {count}d6."


def too_many_terms(terms: int) -> str:
    return f"That roll has {terms} terms; the limit is {TERMS_MAX} dice terms and numbers."


def ends_too_soon(typed: str) -> str:
    return f"'{typed}' stops too soon; {EXAMPLES}."


def unreadable(typed: str) -> str:
    return f"'{typed}' is not dice notation I can read; {EXAMPLES}."


def bare_keep(op: str, num: int) -> str:
    word = _KEEP_WORDS[op]
    return (
        f"{op}{num} is ambiguous: write {op}h{num} to {word} the highest {num} dice, "
        f"or {op}l{num} to {word} the lowest {num}."
    )


def face_only(op: str) -> str:
    word = _FACE_OP_WORDS[op]
    return f"{op} picks faces to {word}, like {op}1, {op}<3 or {op}>5; not the highest or lowest."


def bound_face(op: str, sides: int) -> str:
    return f"{op} sets a {_BOUND_WORDS[op]} face, a number from 1 to {sides}, like {op}3."


def every_face(term: str, op: str) -> str:
    word = "reroll" if op == "rr" else "explode"
    return f"{term} would {word} on every face, forever; leave at least one face out."


def too_many_draws() -> str:
    return f"That roll kept rerolling past {DRAWS_MAX:,} dice; reroll on fewer faces."


def roll_line(speaker: str, roll: DiceRoll) -> str:
    """`Keri rolls 1d20+5 for Stealth: 17 (12 + 5)`; one line, whatever the reason holds."""
    reason = " ".join((roll.reason or "").split())
    purpose = f" for {reason}" if reason else ""
    result = str(roll.total)
    if _SUCCESS_TAIL.search(roll.expr):
        result = f"{roll.total} success" + ("" if roll.total == 1 else "es")
    shown = "" if roll.detail == str(roll.total) else f" ({roll.detail})"
    return f"{speaker} rolls {roll.expr}{purpose}: {result}{shown}"


def cli_line(roll: DiceRoll) -> str:
    """One roll as `tavernkeep roll` prints it: the breakdown, then ` = total` at the end."""
    return f"{roll.detail} = {roll.total}"


def breakdown(rolled: Any, hits: frozenset[int] | None) -> str:
    """The breakdown of a rolled d20 tree; `hits`: the ids of dice counted as successes, if any."""
    full = _render(rolled, hits, compact=False)
    return full if len(full) <= DETAIL_MAX_CHARS else _render(rolled, hits, compact=True)


def _render(node: Any, hits: frozenset[int] | None, compact: bool) -> str:
    parts: list[str] = []
    # Sums are left-deep: walk down the left side, not recursively.
    while isinstance(node, d20.BinOp):
        parts.append(f" {node.op} {_term(node.right, hits, compact)}")
        node = node.left
    parts.append(_term(node, hits, compact))
    return "".join(reversed(parts))


def _term(node: Any, hits: frozenset[int] | None, compact: bool) -> str:
    if not isinstance(node, d20.Dice):
        return str(node.number)
    if compact:
        counted = str(node.total) if hits is None else f"{len(hits)}{SUCCESS_MARK}"
        return f"[{len(node.values)} dice: {counted}]"
    shown = [_die(die, hits is not None and id(die) in hits) for die in node.values]
    if len(shown) == 1 and shown[0].rstrip(SUCCESS_MARK).isdigit():  # one die, one face
        return shown[0]
    return f"[{', '.join(shown)}]"


def _die(die: Any, hit: bool) -> str:
    history = []
    for value in die.values:  # a literal per draw; a literal's own history is mi/ma
        text = REROLL_MARK.join(str(v) for v in value.values)
        history.append(text + (EXPLODE_MARK if value.exploded else ""))
    text = REROLL_MARK.join(history)
    if not die.kept:
        return f"({text})"
    return text + (SUCCESS_MARK if hit else "")
