"""A scene file's `[[turns]]`: lines, rolls, whispers, and characters entering and leaving.

Pure over the parsed TOML and names (casefolded), so a file is checked before anything is
stored: an event naming nobody, a character entering twice or leaving while away, and a whisper
that is not a player's words to an NPC both in the scene are refused with the entry that does
it. Problems are `TurnProblem`s; the scene file loader names the file and the line.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from bot.characters.drafts import typed_name
from bot.characters.sheet import SheetError
from bot.dice import DiceError, check_dice
from bot.dice.limits import REASON_MAX_CHARS

RESULT_LIMIT = 10**9  # a recorded result, within the stored total's 32-bit column
ONE_OF = "needs speaker and either text or roll, or is { enter = NAME } or { leave = NAME }"


@dataclass(frozen=True)
class RollTurn:
    """A `[[turns]]` roll: the checked notation, and a past roll's total (None: roll at import)."""

    expr: str
    reason: str | None = None
    result: int | None = None
    private: bool = False  # only its roller saw it: never in a prompt


@dataclass(frozen=True)
class Whisper:
    """A `[[turns]]` line with `to`: a player's words to one NPC, witnessed by the two alone."""

    text: str
    to: str  # the NPC it is whispered to


@dataclass(frozen=True)
class Presence:
    """A `[[turns]]` event: its character enters the scene (`{ enter = … }`) or leaves it."""

    enters: bool


# What a `[[turns]]` entry holds besides its name: a line, a roll, a whisper, or an event.
TurnBody = str | RollTurn | Whisper | Presence


class TurnProblem(ValueError):
    """A `[[turns]]` entry that cannot be used; `index` names it where the message does not."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def parse_turn(turn: Any) -> tuple[str, TurnBody]:
    """One entry: a speaker with `text` (maybe `to` an NPC) or a `roll`, or an event."""
    if isinstance(turn, dict) and ("enter" in turn or "leave" in turn):
        return _presence(turn)
    if (
        not isinstance(turn, dict)
        or not turn.get("speaker")
        or ("text" in turn) == ("roll" in turn)
    ):
        raise TurnProblem(ONE_OF)
    speaker = _name(turn["speaker"])
    if "roll" in turn:
        if "to" in turn:
            raise TurnProblem("to goes with text (a whisper), not with a roll")
        return speaker, _roll(turn)
    if "private" in turn:
        raise TurnProblem("only a roll turn can be private")
    if "to" in turn:
        return speaker, Whisper(str(turn["text"]), _name(turn["to"]))
    return speaker, str(turn["text"])


def _presence(turn: dict[str, Any]) -> tuple[str, Presence]:
    """`{ enter = "Name" }` or `{ leave = "Name" }`, and nothing else."""
    if len(turn) != 1:
        raise TurnProblem("an event is { enter = NAME } or { leave = NAME } alone")
    ((verb, name),) = turn.items()
    return _name(name), Presence(enters=verb == "enter")


def _name(value: Any) -> str:
    """A name the file wrote, under the name rule."""
    if not isinstance(value, str):
        raise TurnProblem("a name must be text")
    try:
        return typed_name(value)
    except SheetError as exc:
        raise TurnProblem(str(exc)) from None


def _roll(turn: dict[str, Any]) -> RollTurn:
    """`roll = "1d20+5"`, optional `reason`, `result` (a past roll's total) and `private`."""
    try:
        expr = check_dice(str(turn["roll"]))
    except DiceError as exc:
        raise TurnProblem(str(exc)) from None
    reason = turn.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise TurnProblem("reason must be text")
    reason = " ".join((reason or "").split()) or None  # one line, as /roll keeps it
    if reason is not None and len(reason) > REASON_MAX_CHARS:
        raise TurnProblem(f"the reason is limited to {REASON_MAX_CHARS} characters")
    result = turn.get("result")
    if result is not None and (
        isinstance(result, bool) or not isinstance(result, int) or abs(result) > RESULT_LIMIT
    ):
        raise TurnProblem(f"result must be a whole number from -{RESULT_LIMIT} to {RESULT_LIMIT}")
    private = turn.get("private", False)
    if not isinstance(private, bool):
        raise TurnProblem("private must be true or false")
    return RollTurn(expr, reason, result, private)


def away_after(
    turns: Sequence[tuple[str, TurnBody]],
    players: Sequence[str],
    npcs: Sequence[str],
    away: Collection[str],
) -> frozenset[str]:
    """The characters (casefolded) away after every entry, from those `away` at the start.

    Raises `TurnProblem` at the first entry that names nobody of the file, enters a character
    already in or takes out one already away, or whispers other than from a player in the
    scene to an NPC in the scene.
    """
    player_keys = {p.casefold() for p in players}
    npc_keys = {n.casefold() for n in npcs}
    gone = {a.casefold() for a in away}
    for index, (name, body) in enumerate(turns):
        try:
            if isinstance(body, Presence):
                _move(name, body.enters, name.casefold() in player_keys | npc_keys, gone)
            elif isinstance(body, Whisper):
                _whisper(name, body.to, player_keys, npc_keys, gone)
        except TurnProblem as exc:
            raise TurnProblem(str(exc), index) from None
    return frozenset(gone)


def _move(name: str, enters: bool, known: bool, gone: set[str]) -> None:
    """Apply one enter or leave event to `gone`, or refuse it."""
    key = name.casefold()
    if not known:
        raise TurnProblem(f"{name} is not in [[players]] or [[npcs]], so cannot enter or leave")
    if enters and key not in gone:
        raise TurnProblem(f"{name} is already in the scene")
    if not enters and key in gone:
        raise TurnProblem(f"{name} has already left the scene")
    if enters:
        gone.discard(key)
    else:
        gone.add(key)


def _whisper(
    speaker: str, to: str, player_keys: set[str], npc_keys: set[str], gone: set[str]
) -> None:
    """Refuse a whisper that is not from a player in the scene to an NPC in the scene."""
    if speaker.casefold() not in player_keys:
        raise TurnProblem(f"only a player character whispers, and {speaker} is not in [[players]]")
    if to.casefold() not in npc_keys:
        raise TurnProblem(f"a whisper goes to an NPC, and {to} is not in [[npcs]]")
    for name in (speaker, to):
        if name.casefold() in gone:
            raise TurnProblem(f"{name} is not in the scene at this point: a whisper needs both")
