"""The pending turn that holds the messages of a turn still being written, until it is stored.

It is a model turn with no text: the director never stores an empty reply, so a pending model
turn without text is always one. It never joins the history: the stored turn takes its
messages over, or it is deleted with them (after a crash, by the recovery's withdrawal).
These are the turn store's operations on it, each one transaction.
"""

from __future__ import annotations

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.sql import ColumnElement

from bot.store import Stores, Turn
from bot.store.models import TurnMessage


def _placeholder(turn_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        Turn.id == turn_id,
        Turn.pending.is_(True),
        Turn.role == "model",
        Turn.content == "",
    )


async def hand_over(stores: Stores, placeholder_id: int, turn_id: int) -> None:
    """Move the placeholder's messages to the stored turn and delete the placeholder."""
    async with stores.turns.db.session() as s:
        await s.execute(
            update(TurnMessage)
            .where(TurnMessage.turn_id == placeholder_id)
            .values(turn_id=turn_id),
            execution_options={"synchronize_session": False},
        )
        await s.execute(
            delete(Turn).where(*_placeholder(placeholder_id)),
            execution_options={"synchronize_session": False},
        )
        await s.commit()


async def discard(stores: Stores, turn_id: int) -> bool:
    """Delete the turn if it is a placeholder (its witnesses and messages go with it)."""
    async with stores.turns.db.session() as s:
        result = await s.execute(
            delete(Turn).where(*_placeholder(turn_id)),
            execution_options={"synchronize_session": False},
        )
        await s.commit()
    return isinstance(result, CursorResult) and result.rowcount > 0
