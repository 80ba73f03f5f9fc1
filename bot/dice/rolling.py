"""Rolling a checked expression on d20, with every die drawn from the roll's own rng.

d20 draws each die with the module-level `random.randrange` (`d20.Die._add_roll`), and offers
no parameter for another source. Patching `d20.expression.random` would be global: two rolls in
one process (the bot serves many channels) would share or swap generators, and a seeded roll
would stop being reproducible. Instead the seam is d20's own per-roll object: every `Die` holds
the `RollContext` of its `Roller` and calls `count_roll` on it before each draw. The context here
carries the rng as well, `_Die` draws from it, and the `Roller` creates `_Dice`/`_Die` in place
of d20's classes (`_eval_dice`). Each roll builds its own Roller and context, so nothing is
shared between rolls but the parsed tree, which evaluation only reads.

The operators that draw (`rr`, `ro`, `ra`, `e`) and `k` are rewritten in `_SetOperator` on
d20's dice model, for three reasons: d20 iterates a `set` of dice, whose order follows memory
addresses, so the same seed could give the same numbers to different dice; it selects the whole
term again for every die, quadratic work (`100d6kh1kh1…`, 185 characters, took 27 times as long
as it does here); and it explodes until its roll counter overflows, where here a term stops after
`EXPLODED_PER_TERM_MAX` extra dice.
"""

from __future__ import annotations

import random
from typing import Any

import d20  # type: ignore[import-untyped]

from bot.domain import DiceRoll

from .limits import DRAWS_MAX, EXPLODED_PER_TERM_MAX, DiceError
from .notation import plan
from .wording import breakdown, too_many_draws, unreadable

_SYSTEM_RANDOM = random.SystemRandom()  # the operating system's randomness; keeps no state


def roll_dice(text: str, rng: random.Random | None = None, reason: str | None = None) -> DiceRoll:
    """Roll `text` with `rng` (the operating system's randomness by default)."""
    checked = plan(text)
    roller = _Roller(_Context(rng if rng is not None else _SYSTEM_RANDOM))
    try:
        rolled = roller.roll(checked.tree).expr.roll
    except d20.TooManyRolls:
        raise DiceError(too_many_draws()) from None
    except d20.RollError:  # ruled out by the checks; never d20's text to a player
        raise DiceError(unreadable(checked.expr)) from None
    if checked.success is None:
        total = int(rolled.total)
        hits: frozenset[int] | None = None
    else:
        counted = [die for die in rolled.keptset if checked.success.holds(die.number)]
        total = len(counted)
        hits = frozenset(id(die) for die in counted)
    return DiceRoll(checked.expr, total, breakdown(rolled, hits), reason)


class _Context(d20.RollContext):  # type: ignore[misc]
    """d20's per-roll counter of draws, carrying the rng those draws come from."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(max_rolls=DRAWS_MAX)
        self.rng = rng


class _Die(d20.Die):  # type: ignore[misc]
    def _add_roll(self) -> None:
        # d20's version, drawing from the context's rng instead of the `random` module: one
        # `randrange(sides)` per die. The checks rule out d20's 0-sided and percentile dice.
        self._context.count_roll()
        self.values.append(d20.Literal(self._context.rng.randrange(self.size) + 1))


class _Dice(d20.Dice):  # type: ignore[misc]
    """d20's dice term, making `_Die`s, and counting the dice explosions added."""

    @classmethod
    def new(cls, num: int, size: int, context: _Context) -> _Dice:
        dice = [_Die.new(size, context=context) for _ in range(num)]
        made: _Dice = cls(num, size, dice, context=context)
        return made

    def roll_another(self) -> None:
        self.values.append(_Die.new(self.size, context=self._context))


class _SetOperator(d20.SetOperator):  # type: ignore[misc]
    """d20's set operator, with its dice-drawing operations and `k` written per die.

    The checks allow only faces (`6`, `<3`, `>5`) for `rr`, `ro`, `ra` and `e`, so each die's
    fate depends on its own value, and one pass in the term's order does what d20's rounds over
    sets do, in linear time and in the same order for the same seed.
    """

    def keep(self, target: Any) -> None:
        chosen = self.select(target)  # once: d20 selects again for every die (quadratic)
        for value in target.keptset:
            if value not in chosen:
                value.drop()

    def reroll(self, target: Any) -> None:
        for die in target.keptset:
            while _picks(self.sels, die.number):  # ends: a face survives, and draws are counted
                die.reroll()

    def reroll_once(self, target: Any) -> None:
        for die in target.keptset:
            if _picks(self.sels, die.number):
                die.reroll()

    def explode(self, target: Any) -> None:
        index = 0
        while index < len(target.values):  # the dice explosions add are looked at in turn
            die = target.values[index]
            index += 1
            if die.kept and _picks(self.sels, die.number) and not _explode(die, target):
                return

    def explode_once(self, target: Any) -> None:
        for sel in self.sels:  # d20's order: the first selector that picks a die, its first die
            for die in target.keptset:
                if _picks((sel,), die.number):
                    _explode(die, target)
                    return


def _picks(sels: Any, value: int) -> bool:
    """Whether a face selector (`6`, `<3`, `>5`) picks `value`."""
    for sel in sels:
        if sel.cat is None and value == sel.num:
            return True
        if (sel.cat == "<" and value < sel.num) or (sel.cat == ">" and value > sel.num):
            return True
    return False


def _explode(die: Any, target: Any) -> bool:
    """Add a die for `die`, unless the term has added its most; whether one was added."""
    if len(target.values) - target.num >= EXPLODED_PER_TERM_MAX:
        return False
    die.explode()
    target.roll_another()
    return True


class _Roller(d20.Roller):  # type: ignore[misc]
    """d20's evaluator, making dice that draw from its context's rng."""

    def _eval_dice(self, node: Any) -> _Dice:
        return _Dice.new(node.num, node.size, context=self.context)

    def _eval_operatedset(self, node: Any) -> Any:
        target = self._eval(node.value)
        for op in node.operations:
            the_op = _SetOperator.from_ast(op)
            the_op.operate(target)
            target.operations.append(the_op)
        return target
