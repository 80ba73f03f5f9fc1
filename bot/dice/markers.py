"""An NPC's dice and state markers, resolved while it writes: real rolls, checked changes.

The director stops generation at each marker and hands its inner text here (`roll 1d20+3
Stealth`, `Rook HP -3`). A roll is rolled with the operating system's randomness; a state change
is checked against the scene's state as the turn's earlier markers left it. What cannot be
resolved is dropped (and logged): the model never writes a result that is stored.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping

from bot.director import MarkerOutcome
from bot.domain import StateEdit, StateOp
from bot.state.rules import SceneState, apply, check_edit
from bot.state.wording import value_text

from .limits import DiceError
from .notation import check_dice
from .rolling import roll_dice

log = logging.getLogger(__name__)
_OPS: dict[str, StateOp] = {"=": "set", "+": "add"}


class SceneMarkers:
    """Resolves one turn's markers for a scene (a fresh one per generation)."""

    def __init__(
        self,
        state: SceneState,
        characters: Mapping[str, tuple[int, str]],
        rng: random.Random | None = None,
    ) -> None:
        self.state = state
        # casefolded name → (character id, name as written in the scene)
        self.characters = characters
        self.rng = rng

    def resolve(self, marker: str) -> MarkerOutcome | None:
        """The outcome of the text between the brackets; None drops the marker."""
        head, _, rest = marker.strip().partition(" ")
        if head.casefold() == "roll":
            return self._roll(rest)
        return self._change(marker.strip())

    def _roll(self, text: str) -> MarkerOutcome | None:
        words = text.split()
        # The expression is the longest run of leading words that reads as dice; the rest is
        # the reason (`1d20 + 3 Stealth` and `1d20+3 Stealth` both work).
        for cut in range(len(words), 0, -1):
            expr = " ".join(words[:cut])
            try:
                check_dice(expr)
            except DiceError:
                continue
            reason = " ".join(words[cut:]) or None
            rolled = roll_dice(expr, self.rng, reason)
            said = f"roll {rolled.expr}{f' {reason}' if reason else ''}"
            # A lone die's breakdown is its total: `[roll 1d20: 4]`, as `/roll` words it.
            shown = "" if rolled.detail == str(rolled.total) else f" ({rolled.detail})"
            return MarkerOutcome(f"[{said}: {rolled.total}{shown}]", roll=rolled)
        log.info("dropped a roll marker that is not dice: %r", text[:120])
        return None

    def _change(self, marker: str) -> MarkerOutcome | None:
        edit = self._edit(marker)
        if edit is None:
            log.info("dropped a state marker naming no character of the scene: %r", marker[:120])
            return None
        by_name = {folded: cid for folded, (cid, _) in self.characters.items()}
        checked = check_edit(edit, self.state, by_name)
        if checked.change is None:
            log.info("dropped state marker %r: %s", marker[:120], checked.reason)
            return None
        change = checked.change
        stats = apply(self.state.of(change.character_id), change)
        self.state = SceneState({**self.state.characters, change.character_id: stats})
        now = stats[change.key.casefold()].value
        return MarkerOutcome(
            f"[{edit.character} {edit.key} {_as_marker(edit)}: {value_text(now)}]", edit=edit
        )

    def _edit(self, marker: str) -> StateEdit | None:
        """`Name Key <op> value`, the name being the longest of the scene's that fits."""
        # Compared word by word: a casefolded name can be longer than the name as written
        # (`ß` folds to `ss`), so its length is no place to cut the marker.
        names = {
            " ".join(folded.split()): written for folded, (_, written) in self.characters.items()
        }
        words = marker.split()
        for cut in range(len(words) - 1, 0, -1):
            written = names.get(" ".join(words[:cut]).casefold())
            if written is not None:
                return _split(written, " ".join(words[cut:]))
        return None


def _split(character: str, rest: str) -> StateEdit | None:
    """`Key <op> value` after the name: the first spaced `=`, `+` or `-` starts the change."""
    for at, char in enumerate(rest):
        if char in "=+-" and at > 0 and rest[at - 1] == " ":
            key, value = rest[:at].strip(), rest[at + 1 :].strip()
            if not key or not value:
                return None
            if char == "-":
                # `-3` takes three away; `-rope` takes the rope out of a list.
                signed = value.lstrip()
                # ASCII digits only: the rules read no other digits as a number.
                op: StateOp = "add" if signed.isascii() and signed.isdigit() else "remove"
                return StateEdit(character, key, op, f"-{signed}" if op == "add" else signed)
            return StateEdit(character, key, _OPS[char], value)
    return None


def _as_marker(edit: StateEdit) -> str:
    """The change as the marker shape writes it: `= 12/20`, `-3`, `+10`, `+rope`, `-rope`."""
    value = " ".join(edit.value.split())
    if edit.op == "set":
        return f"= {value}"
    if edit.op == "remove":
        return f"-{value}"
    return value if value[:1] in "+-" else f"+{value}"
