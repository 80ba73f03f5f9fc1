"""Which turns a reader may see: the prompt's line of a turn, the views, the round's reads."""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, bindparam, exists, literal_column, or_, select

from .models import SECRET_KINDS, Turn, TurnWitness

# What the history holds: turns neither deleted nor still waiting to be posted.
IN_HISTORY = (Turn.deleted.is_(False), Turn.pending.is_(False))


class TurnLine(NamedTuple):
    """What a prompt needs of a turn, read without building ORM objects.

    A named tuple: made straight from a row, three times cheaper than a frozen dataclass
    (a tenth of a millisecond over a 128-turn window).
    """

    id: int
    seq: int
    role: str
    speaker: str
    content: str
    private: bool = False  # only its author's character saw it: never in a prompt
    kind: str = "post"  # a whisper or a tell is marked wherever a GM reads it


NO_SEQ = 2**31 - 1  # "before no turn": the largest sequence number the column holds
# Whose history a read returns: `None` the whole scene (the speaker choice, a GM's tools), a
# character's id what it witnessed, `PUBLIC` what a viewer with no character may read: every
# turn but whispers and tells. Character ids start at 1, so 0 is nobody's.
PUBLIC = 0
Witness = int | None
LINE_COLUMNS = (
    Turn.id,
    Turn.seq,
    Turn.role,
    Turn.speaker,
    Turn.content,
    Turn.private,
    Turn.kind,
)
SHARED = Turn.private.is_(False)  # what the characters all saw: the prompts' history
# Turns in the history that a prompt may hold (neither deleted, pending nor private).
SHARED_HISTORY = (*IN_HISTORY, SHARED)
_BEFORE = Turn.seq < bindparam("before")
# Written into the SQL, not bound: a bound kind passes its column type's processor, which would
# keep the hottest reads off SQLite's plain driver path (see Database.rows).
SECRET = Turn.kind.in_([literal_column(f"'{kind}'") for kind in SECRET_KINDS])


def witnessed_by(character: Any) -> Any:
    """The turn's witnesses include `character` (a column or a bound parameter)."""
    return exists().where(TurnWitness.turn_id == Turn.id, TurnWitness.character_id == character)


_SEEN = or_(Turn.all_witnessed, witnessed_by(bindparam("witness")))


_AnySelect = TypeVar("_AnySelect", bound=Select[*tuple[Any, ...]])


def in_view(stmt: _AnySelect, witness: Witness) -> _AnySelect:
    """`stmt` narrowed to the turns `witness` may read."""
    if witness is None:
        return stmt
    if witness == PUBLIC:
        return stmt.where(~SECRET)
    return stmt.where(_SEEN)


_NEWEST_FIRST = (
    select(*LINE_COLUMNS)
    .where(Turn.scene_id == bindparam("scene_id"), *IN_HISTORY, SHARED, _BEFORE)
    .order_by(Turn.seq.desc())
    .limit(bindparam("limit"))
)
_ALL_OLDEST_FIRST = (
    select(*LINE_COLUMNS)
    .where(Turn.scene_id == bindparam("scene_id"), *IN_HISTORY, _BEFORE)
    .where(Turn.seq > bindparam("after"))
    .order_by(Turn.seq)
    .limit(bindparam("limit"))
)
_OLDEST_FIRST = _ALL_OLDEST_FIRST.where(SHARED)
# Built once per kind of view: these reads run on every round.
LINES = {view: in_view(_NEWEST_FIRST, view) for view in (None, PUBLIC, 1)}
LINES_AFTER = {view: in_view(_OLDEST_FIRST, view) for view in (None, PUBLIC, 1)}
ALL_LINES_AFTER = {view: in_view(_ALL_OLDEST_FIRST, view) for view in (None, PUBLIC, 1)}


def for_witness(
    statements: dict[Witness, _AnySelect], witness: Witness, params: dict[str, Any]
) -> tuple[_AnySelect, dict[str, Any]]:
    """The prebuilt statement of `statements` for `witness`'s view, and the parameters it takes."""
    if witness is None or witness == PUBLIC:
        return statements[witness], {k: v for k, v in params.items() if k != "witness"}
    return statements[1], params
