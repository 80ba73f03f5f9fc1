"""Dice notation: the text a player types, checked against the caps and read with d20's grammar.

d20 (Avrae's engine) parses the text into its AST. What it lacks is added here, as rewrites of
the text before it parses: Dice Maiden's `!` (explode on the highest face) becomes d20's
`e<sides>`, and the drop operator written `d` (`4d6dl1`, Roll20 and Dice Maiden) becomes d20's
`p`. Success counting (`6d10>=8`) is read from d20's own comparison node when it is the whole
expression, and counted in `rolling.py` (d20 would give 1 or 0 for "the sum is at least 8").
A bare `d20` is d20's own (its grammar makes the count optional).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import d20  # type: ignore[import-untyped]
import lark

from .limits import (
    DICE_PER_TERM_MAX,
    EXPR_MAX_CHARS,
    NUMBER_MAX,
    SIDES_MAX,
    TERMS_MAX,
    DiceError,
)
from .wording import (
    EMPTY,
    NO_DICE,
    NUMBER_TOO_BIG,
    SIGN,
    SUCCESS_COMPARISONS,
    SUCCESS_ONE_TERM,
    SUCCESS_TARGET,
    bare_keep,
    bound_face,
    ends_too_soon,
    every_face,
    face_only,
    no_dice_in_term,
    no_sides,
    not_notation,
    too_long,
    too_many_dice,
    too_many_sides,
    too_many_terms,
    unreadable,
)

# Everything the notation uses; anything else (brackets, `*`, `/`, `%`, `.`) is refused before
# d20 sees it, which also keeps out d20's sets, arithmetic, annotations and percentile dice.
_ALPHABET = frozenset("0123456789dkhlpreoaim<>=+-!")
# One dice term and its operators, so that each `!` knows its die's sides. `!` followed by a
# digit or another `!` (Roll20's compounding `!!`) is not this notation: left for d20 to refuse.
_DICE_TERM = re.compile(r"(\d*d(\d+))((?:(?:rr|ro|ra|mi|ma|[kpde])[hl<>]?\d+|!(?![\d!]))*)")
_DICE_COUNT = re.compile(r"(\d*)d(\d+)")
_NUMBER = re.compile(r"\d+")

SUCCESS_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_OP_NAMES = {"p": "d"}  # d20's drop operator, written the way most players know it
_KEEP_OPS = frozenset({"k", "p"})  # need h/l/</>: Avrae's `k3` keeps 3s, Dice Maiden's the top 3
_FACE_OPS = frozenset({"rr", "ro", "ra", "e"})  # pick faces: `rr1`, `ro<3`, `e>5`
_FOREVER_OPS = frozenset({"rr", "e"})  # repeat while a die matches


@dataclass(frozen=True)
class Comparison:
    """Success counting: each kept die counts when `die <op> target` holds."""

    op: str
    target: int

    def holds(self, value: int) -> bool:
        return SUCCESS_OPS[self.op](value, self.target)


@dataclass(frozen=True)
class Plan:
    """A checked roll: its normalised text and the d20 tree to evaluate (never mutated)."""

    expr: str
    tree: Any  # d20.ast.Expression: the whole sum, or the one dice term of a success count
    success: Comparison | None


def check_dice(text: str) -> str:
    """The normalised expression for `text`, or DiceError saying what to change."""
    return plan(text).expr


@lru_cache(maxsize=256)
def plan(text: str) -> Plan:
    """Read and check `text`; cached, since a table rolls the same few expressions all evening."""
    typed, prepared = _prepare(text)
    tree = _parse(typed, prepared)
    return _checked(tree)


def _prepare(text: str) -> tuple[str, str]:
    """The text as typed without white space, and as d20 reads it; the counting caps first."""
    if len(text) > EXPR_MAX_CHARS:
        raise DiceError(too_long(len(text)))
    typed = "".join(text.split()).lower()
    if not typed:
        raise DiceError(EMPTY)
    for char in typed:
        if char not in _ALPHABET:
            raise DiceError(not_notation(char))
    if any(len(n) > len(str(NUMBER_MAX)) or int(n) > NUMBER_MAX for n in _NUMBER.findall(typed)):
        raise DiceError(NUMBER_TOO_BIG)
    terms = typed.count("+") + typed.count("-") + 1
    if terms > TERMS_MAX:
        raise DiceError(too_many_terms(terms))
    for count, sides in _DICE_COUNT.findall(typed):
        _check_dice_count(int(count or "1"), int(sides))
    return typed, _DICE_TERM.sub(_for_d20, typed)


def _for_d20(term: re.Match[str]) -> str:
    """One dice term as d20 writes it: `!` is `e<sides>`, and the drop operator `d` is `p`."""
    operators = term.group(3).replace("d", "p").replace("!", f"e{int(term.group(2))}")
    return term.group(1) + operators


def _check_dice_count(count: int, sides: int) -> None:
    if count < 1:
        raise DiceError(no_dice_in_term(count, sides))
    if count > DICE_PER_TERM_MAX:
        raise DiceError(too_many_dice(count))
    if sides < 1:
        raise DiceError(no_sides(count))
    if sides > SIDES_MAX:
        raise DiceError(too_many_sides(sides))


def _parse(typed: str, prepared: str) -> Any:
    # A Roller of its own: d20's module-level one memoises parses in a cache that is not safe
    # to share between threads; a Roller costs a few microseconds.
    try:
        return d20.Roller().parse(prepared)
    except d20.RollSyntaxError as exc:
        if getattr(exc.got, "type", None) == "$END":
            raise DiceError(ends_too_soon(typed)) from None
        raise DiceError(unreadable(typed)) from None
    except (d20.RollError, lark.exceptions.LarkError):
        raise DiceError(unreadable(typed)) from None


def _checked(tree: Any) -> Plan:
    root = tree.roll
    if isinstance(root, d20.ast.BinOp) and root.op not in ("+", "-"):
        if root.op not in SUCCESS_OPS:
            raise DiceError(SUCCESS_COMPARISONS)
        if not isinstance(root.left, d20.ast.Dice | d20.ast.OperatedDice):
            raise DiceError(SUCCESS_ONE_TERM)
        if not isinstance(root.right, d20.ast.Literal):
            raise DiceError(SUCCESS_TARGET)
        expr = f"{_dice_term(root.left)}{root.op}{root.right.value}"
        success = Comparison(root.op, root.right.value)
        return Plan(_within_length(expr), d20.ast.Expression(root.left), success)
    parts: list[str] = []
    dice = 0
    node = root
    # Sums are left-deep (`((a+b)-c)+d`): walk down the left side, not recursively.
    while isinstance(node, d20.ast.BinOp) and node.op in ("+", "-"):
        parts.append(node.op + _term(node.right))
        dice += not isinstance(node.right, d20.ast.Literal)
        node = node.left
    parts.append(_term(node))
    dice += not isinstance(node, d20.ast.Literal)
    if not dice:
        raise DiceError(NO_DICE)
    return Plan(_within_length("".join(reversed(parts))), tree, None)


def _within_length(expr: str) -> str:
    # `d6` is normalised to `1d6`, so a normalised text can outgrow what was typed.
    if len(expr) > EXPR_MAX_CHARS:
        raise DiceError(too_long(len(expr)))
    return expr


def _term(node: Any) -> str:
    if isinstance(node, d20.ast.Literal):
        return str(node.value)
    if isinstance(node, d20.ast.Dice | d20.ast.OperatedDice):
        return _dice_term(node)
    if isinstance(node, d20.ast.UnOp):
        raise DiceError(SIGN)
    if isinstance(node, d20.ast.BinOp):  # a comparison inside a sum: `1d6>2+1d6>2`
        raise DiceError(SUCCESS_ONE_TERM)
    raise DiceError(unreadable(str(node)))


def _dice_term(node: Any) -> str:
    """`4d6kh3`: the term's operators checked, and written back in normal form."""
    dice = node.value if isinstance(node, d20.ast.OperatedDice) else node
    operations = node.operations if isinstance(node, d20.ast.OperatedDice) else []
    text = f"{dice.num}d{dice.size}"
    for op in operations:
        for sel in op.sels:
            _check_selector(op.op, sel, dice.size)
            if op.op == "e" and sel.cat is None and sel.num == dice.size:
                text += "!"
            else:
                text += f"{_OP_NAMES.get(op.op, op.op)}{sel.cat or ''}{sel.num}"
        if op.op in _FOREVER_OPS and _every_face(op.sels, dice.size):
            raise DiceError(every_face(text, op.op))
    return text


def _check_selector(op: str, sel: Any, sides: int) -> None:
    if op in _KEEP_OPS and sel.cat is None:
        raise DiceError(bare_keep(_OP_NAMES.get(op, op), sel.num))
    if op in _FACE_OPS and sel.cat in ("h", "l"):
        raise DiceError(face_only(op))
    if op in ("mi", "ma") and (sel.cat is not None or not 1 <= sel.num <= sides):
        raise DiceError(bound_face(op, sides))


def _every_face(sels: Sequence[Any], sides: int) -> bool:
    """Whether the selectors together pick every face from 1 to `sides` (never stops)."""
    spans: list[tuple[int, int]] = []
    for sel in sels:
        if sel.cat is None:
            spans.append((sel.num, sel.num))
        elif sel.cat == "<":
            spans.append((1, sel.num - 1))
        elif sel.cat == ">":
            spans.append((sel.num + 1, sides))
    reached = 0  # every face up to here is picked
    for low, high in sorted(spans):
        if low > reached + 1:
            break
        reached = max(reached, high)
    return reached >= sides
