"""Tracked state and dice: changes and rolls kept with the turn (and swipe) that made them.

A scene's state is the fold of the changes that stand: those of no turn (a `/stat` command, a
scene file) and those of a turn in the history whose selected swipe made them. Swiping,
deleting or withdrawing a turn therefore rolls its changes back, exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import DiceRoll
from bot.state.rules import Change, SceneState, StateError, decode, encode, fold

from .database import Database
from .errors import NotFoundError
from .models import Scene, StateChange, Turn, TurnRoll

# A change stands when no turn made it, or its turn is in the history showing that swipe.
_STANDS = or_(
    StateChange.turn_id.is_(None),
    and_(
        Turn.deleted.is_(False),
        Turn.pending.is_(False),
        StateChange.swipe_index == Turn.swipe_index,
    ),
)
_NO_TURN = 0  # turn ids start at 1
ROLL_TEXT_MAX = 200  # a roll's expression and reason, as the columns hold them
_CURRENT = (
    select(StateChange.character_id, StateChange.key, StateChange.op, StateChange.value)
    .outerjoin(Turn, Turn.id == StateChange.turn_id)
    .where(StateChange.scene_id == bindparam("scene_id"), _STANDS)
    .where(or_(StateChange.turn_id.is_(None), StateChange.turn_id != bindparam("without")))
    .order_by(StateChange.id)
)


@dataclass(frozen=True)
class HistoryEntry:
    """One standing change of a value, and the turn that made it (None: a command or file)."""

    change: Change
    turn_id: int | None
    turn_seq: int | None
    speaker: str | None
    created_at: datetime


def _change(character_id: int, key: str, op: str, value: object) -> Change | None:
    """A stored row as a change; None for one this version cannot read (left out of the fold)."""
    if op not in ("set", "add", "remove"):
        return None
    try:
        return Change(character_id, key, op, decode(value))  # type: ignore[arg-type]
    except StateError:
        return None


async def _check_turn(s: AsyncSession, turn_id: int, scene_id: int | None = None) -> Turn:
    turn = await s.get(Turn, turn_id)
    if turn is None or (scene_id is not None and turn.scene_id != scene_id):
        raise NotFoundError("That message is no longer part of the scene history.")
    return turn


def _change_rows(
    scene_id: int, turn_id: int | None, swipe_index: int, changes: Sequence[Change]
) -> list[StateChange]:
    """The rows that keep checked changes (with a turn's swipe, or standing on their own)."""
    return [
        StateChange(
            scene_id=scene_id,
            turn_id=turn_id,
            swipe_index=swipe_index if turn_id is not None else 0,
            character_id=change.character_id,
            key=change.key,
            op=change.op,
            value=encode(change.value),
        )
        for change in changes
    ]


def roll_rows(
    turn_id: int, swipe_index: int, rolls: Sequence[DiceRoll], start: int = 0
) -> list[TurnRoll]:
    """The rows that keep `rolls` with one swipe of a turn, from position `start` on."""
    return [
        TurnRoll(
            turn_id=turn_id,
            swipe_index=swipe_index,
            position=start + i,
            expr=roll.expr[:ROLL_TEXT_MAX],
            reason=roll.reason[:ROLL_TEXT_MAX] if roll.reason is not None else None,
            total=roll.total,
            detail=roll.detail,
        )
        for i, roll in enumerate(rolls)
    ]


class StateStore:
    """Per-scene tracked values and the dice rolled with turns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        scene_id: int,
        changes: Sequence[Change],
        *,
        turn_id: int | None = None,
        swipe_index: int = 0,
    ) -> None:
        """Store checked changes, all or none; with a turn they stand only while its swipe does."""
        if not changes:
            return
        async with self.db.session() as s:
            if turn_id is not None:
                await _check_turn(s, turn_id, scene_id)
            elif await s.get(Scene, scene_id) is None:
                raise NotFoundError("That scene no longer exists.")
            s.add_all(_change_rows(scene_id, turn_id, swipe_index, changes))
            await s.commit()

    async def record_turn(
        self,
        scene_id: int,
        turn_id: int,
        swipe_index: int,
        rolls: Sequence[DiceRoll],
        changes: Sequence[Change],
        *,
        fresh: bool = True,
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Store a generated version's rolls and changes in one transaction; the new row ids.

        `fresh`: the version starts with nothing (a swipe index a version that was never shown
        used before is cleared); otherwise (a continue) they come after what it has.
        """
        if not rolls and not changes and not fresh:
            return (), ()
        async with self.db.session() as s:
            await _check_turn(s, turn_id, scene_id)
            mine = (TurnRoll.turn_id == turn_id, TurnRoll.swipe_index == swipe_index)
            if fresh:
                await s.execute(delete(TurnRoll).where(*mine))
                await s.execute(
                    delete(StateChange).where(
                        StateChange.turn_id == turn_id, StateChange.swipe_index == swipe_index
                    )
                )
            before = 0 if fresh else await s.scalar(select(func.count()).where(*mine))
            roll_rows_ = roll_rows(turn_id, swipe_index, rolls, start=before or 0)
            change_rows = _change_rows(scene_id, turn_id, swipe_index, changes)
            s.add_all([*roll_rows_, *change_rows])
            await s.flush()
            ids = tuple(r.id for r in roll_rows_), tuple(c.id for c in change_rows)
            await s.commit()
        return ids

    async def forget(self, roll_ids: Sequence[int], change_ids: Sequence[int]) -> None:
        """Delete rows `record_turn` stored, for a version that was taken back."""
        async with self.db.session() as s:
            if roll_ids:
                await s.execute(delete(TurnRoll).where(TurnRoll.id.in_(list(roll_ids))))
            if change_ids:
                await s.execute(delete(StateChange).where(StateChange.id.in_(list(change_ids))))
            await s.commit()

    async def current(self, scene_id: int, *, without_turn: int | None = None) -> SceneState:
        """The scene's state now (leaving out one turn's changes: a swipe being generated)."""
        params = {"scene_id": scene_id, "without": without_turn or _NO_TURN}
        rows = await self.db.rows(_CURRENT, params)
        return fold(c for c in (_change(*row) for row in rows) if c is not None)

    async def history(self, scene_id: int, character_id: int, key: str) -> list[HistoryEntry]:
        """The standing changes of one value (any spelling of its key), oldest first."""
        stmt = (
            select(StateChange, Turn.seq, Turn.speaker)
            .outerjoin(Turn, Turn.id == StateChange.turn_id)
            .where(
                StateChange.scene_id == scene_id,
                StateChange.character_id == character_id,
                _STANDS,
            )
            .order_by(StateChange.id)
        )
        folded = key.casefold()
        entries: list[HistoryEntry] = []
        async with self.db.session() as s:
            for row, seq, speaker in await s.execute(stmt):
                change = _change(row.character_id, row.key, row.op, row.value)
                if change is not None and row.key.casefold() == folded:
                    entries.append(HistoryEntry(change, row.turn_id, seq, speaker, row.created_at))
        return entries

    async def record_rolls(self, turn_id: int, swipe_index: int, rolls: Sequence[DiceRoll]) -> None:
        """Store rolls with one swipe of a turn, after any it already has."""
        if not rolls:
            return
        async with self.db.session() as s:
            scene_id = (await _check_turn(s, turn_id)).scene_id
        await self.record_turn(scene_id, turn_id, swipe_index, rolls, (), fresh=False)

    async def rolls(self, turn_id: int) -> list[DiceRoll]:
        """The rolls of the turn's selected swipe, in order."""
        return (await self.rolls_of([turn_id])).get(turn_id, [])

    async def rolls_of(self, turn_ids: Sequence[int]) -> dict[int, list[DiceRoll]]:
        """The rolls of each turn's selected swipe (turns without any are left out)."""
        if not turn_ids:
            return {}
        stmt = (
            select(TurnRoll)
            .join(Turn, Turn.id == TurnRoll.turn_id)
            .where(TurnRoll.turn_id.in_(list(turn_ids)), TurnRoll.swipe_index == Turn.swipe_index)
            .order_by(TurnRoll.turn_id, TurnRoll.position, TurnRoll.id)
        )
        found: dict[int, list[DiceRoll]] = defaultdict(list)
        async with self.db.session() as s:
            for roll in await s.scalars(stmt):
                found[roll.turn_id].append(
                    DiceRoll(roll.expr, roll.total, roll.detail, roll.reason)
                )
        return dict(found)

    async def set_options(
        self, scene_id: int, *, mechanics: bool | None = None, player_stats: bool | None = None
    ) -> Scene:
        """Turn NPC mechanics (markers) or players' own `/stat` changes on or off."""
        async with self.db.session() as s:
            scene = await s.get(Scene, scene_id)
            if scene is None:
                raise NotFoundError("That scene no longer exists.")
            if mechanics is not None:
                scene.mechanics = mechanics
            if player_stats is not None:
                scene.player_stats = player_stats
            await s.commit()
        return scene
