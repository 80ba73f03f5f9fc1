"""Storing a new turn: its row with the next seq, its messages, rolls and witnesses, at once."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Insert, Integer, bindparam, func, insert, literal, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from bot.domain import DiceRoll

from .errors import DuplicateMessageError, NotFoundError
from .models import CastMember, PlayerBinding, Scene, Turn, TurnMessage, TurnWitness
from .state import roll_rows

ALREADY_RECORDED = "That message is already recorded as another turn."


def store_turn(
    s: Session,
    values: dict[str, Any],
    message_ids: Sequence[int],
    rolls: Sequence[DiceRoll],
    audience: Collection[int] | None,
) -> Turn | None:
    """Store one turn (`values`: its columns but seq) whole; None after a sequence-number race.

    Its messages, its rolls and its witnesses go in the same transaction.
    """
    scene_id = values["scene_id"]
    _lock_scene(s, scene_id)
    try:
        turn = _insert_turn(s, values, message_ids)
        s.add_all(roll_rows(turn.id, 0, rolls))
        s.execute(*_witnesses(turn.id, scene_id, values["character_id"], audience))
        s.commit()
    except IntegrityError:
        # Nothing of the attempt is kept, so a failed try leaves no gap in seq.
        s.rollback()
        _explain_append_failure(s, scene_id, message_ids)
        return None  # a sequence-number race: try again
    return turn


def _lock_scene(s: Session, scene_id: int) -> None:
    """Serialize appends to one scene until the transaction ends; NotFoundError if it is gone."""
    # Under READ COMMITTED two PostgreSQL transactions would both read the same max(seq) and
    # one would lose on the unique key, again and again under load; the row lock queues them.
    # NO KEY UPDATE still lets other sessions insert rows referencing the scene. SQLite runs
    # one writer at a time and needs no lock: the INSERT takes the write lock before reading
    # max(seq), and a scene that is gone fails its foreign key (one statement less a turn).
    if s.get_bind().dialect.name == "sqlite":
        return
    locked = s.scalar(select(Scene.id).where(Scene.id == scene_id).with_for_update(key_share=True))
    if locked is None:
        raise NotFoundError("That scene no longer exists.")


def _witnesses(
    turn_id: int, scene_id: int, author: int | None, audience: Collection[int] | None
) -> tuple[Insert, dict[str, Any]]:
    """Recording who witnesses a new turn: its audience, or everyone present, and its author.

    With its parameters: a post everyone present saw (nearly every turn) uses one prebuilt
    statement, not a new one built and cache-keyed for every turn (a profile of stored turns
    showed that work among the largest costs of an append).
    """
    if audience is None:
        return _PRESENT_WITNESSES, {"turn_id": turn_id, "scene_id": scene_id, "author": author}
    ids = [select(literal(c, Integer)) for c in {*audience, author}]
    every = union(*ids).subquery()
    told = select(literal(turn_id, Integer), every.c[0]).where(every.c[0].is_not(None))
    return insert(_WITNESSES).from_select(_WITNESS_COLUMNS, told), {}


def _present_witnesses() -> Insert:
    scene = bindparam("scene_id", type_=Integer)
    every = union(
        select(bindparam("author", type_=Integer)),
        select(CastMember.character_id).where(CastMember.scene_id == scene),
        select(PlayerBinding.character_id).where(
            PlayerBinding.scene_id == scene, PlayerBinding.present.is_(True)
        ),
    ).subquery()
    turn = bindparam("turn_id", type_=Integer)
    present = select(turn, every.c[0]).where(every.c[0].is_not(None))
    return insert(_WITNESSES).from_select(_WITNESS_COLUMNS, present)


# The table, not the mapped class: an ORM insert would take the parameters for rows to insert.
_WITNESSES = TurnWitness.metadata.tables[TurnWitness.__tablename__]
_WITNESS_COLUMNS = ["turn_id", "character_id"]
_PRESENT_WITNESSES = _present_witnesses()


def messages_of(turn_id: int, message_ids: Sequence[int]) -> list[TurnMessage]:
    """The rows tying a turn to the Discord messages it was posted as, in order."""
    return [TurnMessage(turn_id=turn_id, message_id=m, part=i) for i, m in enumerate(message_ids)]


def _insert_turn_statement() -> Insert:
    prev = Turn.__table__.alias("prev")
    # Computed inside the INSERT, so SQLite takes the write lock before reading max(seq).
    next_seq = (
        select(func.coalesce(func.max(prev.c.seq), 0) + 1)
        .where(prev.c.scene_id == bindparam("seq_scene"))
        .scalar_subquery()
    )
    # RETURNING the whole row brings the seq back: no second read. The turn's messages are
    # set from the rows inserted beside it, never loaded. Built once: building and keying the
    # statement for every turn was a third of an append's time (a profile of stored turns).
    return insert(Turn).values(seq=next_seq).returning(Turn).options(lazyload(Turn.messages))


_INSERT_TURN = _insert_turn_statement()


def _insert_turn(s: Session, values: dict[str, Any], message_ids: Sequence[int]) -> Turn:
    """Insert a turn and its messages in the session's transaction; the turn as stored."""
    turn: Turn = s.scalars(_INSERT_TURN, {**values, "seq_scene": values["scene_id"]}).one()
    messages = messages_of(turn.id, message_ids)
    set_committed_value(turn, "messages", messages)
    s.add_all(messages)
    return turn


def _explain_append_failure(s: Session, scene_id: int, message_ids: Sequence[int]) -> None:
    """Raise for failures a retry cannot fix; return for a sequence-number race."""
    if s.get(Scene, scene_id) is None:
        raise NotFoundError("That scene no longer exists.")
    if message_ids:
        taken = s.scalar(
            select(TurnMessage.message_id)
            .where(TurnMessage.message_id.in_(list(message_ids)))
            .limit(1)
        )
        if taken is not None:
            raise DuplicateMessageError(ALREADY_RECORDED)
