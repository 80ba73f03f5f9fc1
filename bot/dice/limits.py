"""Caps on a roll, and the error a person sees when a roll breaks one or cannot be read.

Every cap is checked on the text before d20 parses it and before any die is drawn, so hostile
input costs microseconds; parsing itself is bounded by the length cap. The caps also keep every
total well inside a 32-bit integer (the stored `total` column): 20 terms of at most 200 dice
(100 rolled and 100 from explosions) of at most 10,000 sides, or of numbers up to 1,000,000.
"""

from __future__ import annotations

from bot.errors import UserError

EXPR_MAX_CHARS = 200  # the text as typed, and the normalised expression (stored in 200 chars)
TERMS_MAX = 20  # dice terms and numbers added or subtracted
DICE_PER_TERM_MAX = 100  # `100d6`
SIDES_MAX = 10_000  # `1d10000`
NUMBER_MAX = 1_000_000  # every number written in a roll: modifiers, targets, selectors
EXPLODED_PER_TERM_MAX = 100  # extra dice one term's explosions may add; further ones are not
# Every die d20 draws in one roll, rerolls and explosions included (d20's RollContext counts
# them): room for 20 full terms that explode to their cap, with 1,000 draws to spare for
# rerolls. A roll that reaches it is refused (an `rr` that keeps matching).
DRAWS_MAX = TERMS_MAX * (DICE_PER_TERM_MAX + EXPLODED_PER_TERM_MAX) + 1_000
DETAIL_MAX_CHARS = 500  # a longer breakdown shows each dice term's count and sum instead
TIMES_MAX = 10_000  # `tavernkeep roll --times`
REASON_MAX_CHARS = 100  # what a roll is for (`/roll … reason`, a scene file's roll turn)


class DiceError(UserError, ValueError):
    """A roll that cannot be read or breaks a cap; the message says what to change."""
