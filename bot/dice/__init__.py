"""Dice: Avrae's and Dice Maiden's notation, checked against caps and rolled on d20.

`notation` reads and checks the text, `rolling` rolls it with the caller's rng, `wording` holds
everything a person reads. `service.py` is the `/roll` command over them.
"""

from .limits import DiceError
from .notation import check_dice
from .rolling import roll_dice
from .wording import roll_line

__all__ = ["DiceError", "check_dice", "roll_dice", "roll_line"]
