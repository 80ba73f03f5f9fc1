"""Model-written state edits (markers in an NPC's reply): checked, never trusted.

The caller stores the changes these return with the turn and swipe that made them, and drops and
logs the rest; nothing a model writes is stored unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.domain import StateEdit
from bot.state.rules import Change, SceneState, StateError, apply, make_change


@dataclass(frozen=True)
class Checked:
    """A model-written edit: the change to store, or why it was dropped."""

    change: Change | None
    reason: str | None = None


def check_edit(edit: StateEdit, state: SceneState, characters: Mapping[str, int]) -> Checked:
    """Check a model-written edit against the scene's state and its characters (name → id)."""
    character_id = characters.get(edit.character.casefold())
    if character_id is None:
        return Checked(None, f"{edit.character} is not a character of this scene")
    if edit.op == "remove" and not edit.value.strip():
        return Checked(None, f"{edit.key}: only a GM removes a whole value")
    try:
        stats = state.of(character_id)
        return Checked(make_change(stats, character_id, edit.key, edit.op, edit.value))
    except StateError as exc:
        return Checked(None, str(exc))


def check_edits(
    edits: Iterable[StateEdit], state: SceneState, characters: Mapping[str, int]
) -> tuple[list[Change], list[str]]:
    """Check edits in order, each against the state the ones before it leave."""
    changes: list[Change] = []
    reasons: list[str] = []
    current = {cid: dict(stats) for cid, stats in state.characters.items()}
    for edit in edits:
        checked = check_edit(edit, SceneState(current), characters)
        if checked.change is None:
            reasons.append(checked.reason or "refused")
            continue
        change = checked.change
        current[change.character_id] = apply(current.get(change.character_id, {}), change)
        changes.append(change)
    return changes, reasons
