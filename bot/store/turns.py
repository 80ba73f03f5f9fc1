"""Scene history: turns, their swipes and the Discord messages they were posted as."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.domain import NAME_MAX, DiceRoll

from ._util import affected
from .database import Database
from .errors import DuplicateMessageError, NotFoundError, StoreError
from .models import (
    SECRET_KINDS,
    TURN_KINDS,
    TURN_ROLES,
    SceneChapter,
    SceneSummary,
    Turn,
    TurnMessage,
    TurnWitness,
)
from .turn_reads import (
    ALL_LINES_AFTER,
    IN_HISTORY,
    LINES,
    LINES_AFTER,
    NO_SEQ,
    SECRET,
    SHARED,
    TurnLine,
    Witness,
    for_witness,
    witnessed_by,
)
from .turn_writes import ALREADY_RECORDED, messages_of, store_turn

_APPEND_ATTEMPTS = 8
CLEAR_BATCH = 2000


async def _turn(s: AsyncSession, turn_id: int) -> Turn:
    turn = await s.get(Turn, turn_id)
    if turn is None:
        raise NotFoundError("That message is no longer part of the scene history.")
    return turn


class TurnStore:
    """Append-mostly history of each scene."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(
        self,
        scene_id: int,
        *,
        role: str,
        speaker: str,
        content: str,
        character_id: int | None = None,
        author_id: int | None = None,
        message_ids: Sequence[int] = (),
        pending: bool = False,
        greeting: Sequence[str] = (),
        kind: str = "post",
        private: bool = False,
        rolls: Sequence[DiceRoll] = (),
        audience: Collection[int] | None = None,
    ) -> Turn:
        """Store a new turn with the next seq; a `pending` one stays out of the history.

        `greeting` makes it a greeting whose swipes are these alternatives after `content`.
        `kind` "roll" marks a player's roll; a `private` turn only its author's character saw.
        `rolls` are stored with its first swipe, in the same transaction. Its witnesses are
        the characters present (the cast and the players not away) and its author, or only
        `audience` and its author: a post with an audience is stored as a whisper.
        """
        if role not in TURN_ROLES:
            raise ValueError(f"unknown turn role {role!r}")
        if kind not in TURN_KINDS:
            raise ValueError(f"unknown turn kind {kind!r}")
        if kind in SECRET_KINDS and audience is None:
            raise ValueError(f"a {kind} needs its audience")
        if audience is not None and kind == "post":
            kind = "whisper"  # words meant for some characters only (a private answer)
        if private:
            audience = ()
        values = {
            "scene_id": scene_id,
            "role": role,
            "speaker": speaker[:NAME_MAX],
            "character_id": character_id,
            "author_id": author_id,
            "content": content,
            "swipes": [content, *greeting],
            "swipe_index": 0,
            "edited": False,
            "deleted": False,
            "pending": pending,
            "greeting": bool(greeting),
            "kind": kind,
            "private": private,
        }

        def store(s: Session) -> Turn | None:
            return store_turn(s, values, message_ids, rolls, audience)

        for _ in range(_APPEND_ATTEMPTS):
            if (turn := await self.db.write(store)) is not None:
                return turn
        raise StoreError("Could not save the turn, please try again.")

    async def window(
        self, scene_id: int, limit: int, *, before_seq: int | None = None
    ) -> list[Turn]:
        """The newest ``limit`` turns of the history (with seq < before_seq), oldest first.

        Private turns, whispers and tells are left out: they are not in the channel, so they
        answer no post there and are no latest turn to swipe or undo.
        """
        if limit <= 0:
            return []
        stmt = select(Turn).where(Turn.scene_id == scene_id, *IN_HISTORY, SHARED, ~SECRET)
        if before_seq is not None:
            stmt = stmt.where(Turn.seq < before_seq)
        stmt = stmt.order_by(Turn.seq.desc()).limit(limit)
        async with self.db.session() as s:
            turns = list(await s.scalars(stmt))
        turns.reverse()
        return turns

    async def lines(
        self,
        scene_id: int,
        limit: int,
        *,
        before_seq: int | None = None,
        witness: Witness = None,
    ) -> list[TurnLine]:
        """Like `window`, but only the prompt's columns: the director reads this every round.

        `witness`: the view to read (see `PUBLIC`); the whole scene by default.
        """
        if limit <= 0:
            return []
        params = {
            "scene_id": scene_id,
            "before": before_seq or NO_SEQ,
            "limit": limit,
            "witness": witness,
        }
        # A prebuilt statement read straight into tuples, not a session: no ORM objects and no
        # statement building for a read that runs on every round (see Database.rows).
        rows = await self.db.rows(*for_witness(LINES, witness, params))
        return [TurnLine._make(row) for row in reversed(rows)]

    async def lines_after(
        self,
        scene_id: int,
        after_seq: int,
        limit: int,
        *,
        before_seq: int | None = None,
        with_private: bool = False,
        witness: Witness = None,
    ) -> list[TurnLine]:
        """The oldest ``limit`` history turns with after_seq < seq < before_seq, oldest first.

        Private turns (a private roll) only `with_private`: for a GM's eyes, never a prompt's.
        `witness`: the view to read, as in `lines`.
        """
        if limit <= 0:
            return []
        params = {
            "scene_id": scene_id,
            "after": after_seq,
            "before": before_seq or NO_SEQ,
            "limit": limit,
            "witness": witness,
        }
        lines = ALL_LINES_AFTER if with_private else LINES_AFTER
        rows = await self.db.rows(*for_witness(lines, witness, params))
        return [TurnLine._make(row) for row in rows]

    async def has_own_view(self, scene_id: int, character_id: int, through_seq: int) -> bool:
        """Whether the character's view of the turns up to `through_seq` differs from `PUBLIC`.

        It does if it missed a shared turn (away, or not yet in the scene) or witnessed a
        whisper or a tell: then the story everyone shares is not its story.
        """
        in_range = (Turn.scene_id == scene_id, *IN_HISTORY, Turn.seq <= through_seq)
        seen = witnessed_by(character_id)
        missed = select(Turn.id).where(
            *in_range, SHARED, ~SECRET, Turn.all_witnessed.is_(False), ~seen
        )
        secret = select(Turn.id).where(*in_range, SECRET, seen)
        async with self.db.session() as s:
            return bool(await s.scalar(select(exists(missed) | exists(secret))))

    async def witnesses(self, turn_ids: Collection[int]) -> dict[int, set[int]]:
        """The characters who witnessed each of these turns (none listed: everyone did)."""
        found: dict[int, set[int]] = {t: set() for t in turn_ids}
        if not found:
            return found
        stmt = select(TurnWitness.turn_id, TurnWitness.character_id).where(
            TurnWitness.turn_id.in_(list(found))
        )
        async with self.db.session() as s:
            for turn_id, character_id in await s.execute(stmt):
                found[turn_id].add(character_id)
        return found

    async def get(self, turn_id: int) -> Turn:
        """The turn with this id; NotFoundError if missing."""
        async with self.db.session() as s:
            return await _turn(s, turn_id)

    async def by_message_id(self, message_id: int) -> Turn | None:
        """The turn posted as this Discord message, if any."""
        stmt = (
            select(Turn)
            .join(TurnMessage, TurnMessage.turn_id == Turn.id)
            .where(TurnMessage.message_id == message_id)
        )
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def set_message_ids(self, turn_id: int, message_ids: Sequence[int]) -> None:
        """Replace the Discord message ids a turn was posted as."""
        async with self.db.session() as s:
            # Existence check by id only: loading the Turn would put its old messages in the
            # identity map, clashing with re-added rows that keep the same message id.
            if await s.scalar(select(Turn.id).where(Turn.id == turn_id)) is None:
                raise NotFoundError("That message is no longer part of the scene history.")
            await s.execute(delete(TurnMessage).where(TurnMessage.turn_id == turn_id))
            s.add_all(messages_of(turn_id, message_ids))
            try:
                await s.commit()
            except IntegrityError as e:
                raise DuplicateMessageError(ALREADY_RECORDED) from e

    async def add_message_id(self, turn_id: int, message_id: int, part: int) -> None:
        """Record one more Discord message a turn is being posted as."""
        async with self.db.session() as s:
            s.add(TurnMessage(turn_id=turn_id, message_id=message_id, part=part))
            try:
                await s.commit()
            except IntegrityError as e:
                raise DuplicateMessageError(ALREADY_RECORDED) from e

    async def mark_posted(self, turn_id: int) -> None:
        """A pending turn has been posted whole: it joins the history."""
        await self._set(turn_id, pending=False)

    async def pending(self, scene_id: int | None = None) -> list[Turn]:
        """Turns stored but never posted (nor hidden since), in one scene or in all."""
        stmt = select(Turn).where(Turn.pending.is_(True), Turn.deleted.is_(False))
        if scene_id is not None:
            stmt = stmt.where(Turn.scene_id == scene_id)
        async with self.db.session() as s:
            return list(await s.scalars(stmt.order_by(Turn.id)))

    async def last_message_id(self, scene_id: int) -> int | None:
        """The newest Discord message recorded for the scene (Discord ids grow with time)."""
        stmt = (
            select(func.max(TurnMessage.message_id))
            .join(Turn, TurnMessage.turn_id == Turn.id)
            .where(Turn.scene_id == scene_id)
        )
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def _modify(self, turn_id: int, change: Callable[[Turn], None]) -> Turn:
        async with self.db.session() as s:
            turn = await _turn(s, turn_id)
            change(turn)
            await s.commit()
        return turn

    async def edit(self, turn_id: int, content: str) -> Turn:
        """Replace the selected swipe's text and mark the turn edited."""

        def change(turn: Turn) -> None:
            swipes = list(turn.swipes)
            swipes[turn.swipe_index] = content
            turn.swipes, turn.content, turn.edited = swipes, content, True

        return await self._modify(turn_id, change)

    async def mark_deleted(self, turn_id: int) -> None:
        """Hide a turn from the history (kept for the record)."""
        await self._set(turn_id, deleted=True)

    async def _set(self, turn_id: int, **values: bool) -> None:
        async with self.db.session() as s:
            result = await s.execute(update(Turn).where(Turn.id == turn_id).values(**values))
            await s.commit()
        if not affected(result):
            raise NotFoundError("That message is no longer part of the scene history.")

    async def restore(self, before: Turn) -> Turn:
        """Put back the text, swipes and edit mark a turn had (a rewrite that was not shown)."""

        def change(turn: Turn) -> None:
            turn.content, turn.swipes = before.content, list(before.swipes)
            turn.swipe_index, turn.edited = before.swipe_index, before.edited

        return await self._modify(before.id, change)

    async def add_swipe(self, turn_id: int, content: str) -> Turn:
        """Append an alternative content and select it."""

        def change(turn: Turn) -> None:
            turn.swipes = [*turn.swipes, content]
            turn.swipe_index, turn.content = len(turn.swipes) - 1, content

        return await self._modify(turn_id, change)

    async def select_swipe(self, turn_id: int, index: int) -> Turn:
        """Show the swipe at ``index``."""

        def change(turn: Turn) -> None:
            if not 0 <= index < len(turn.swipes):
                raise StoreError("There is no such swipe.")
            turn.swipe_index, turn.content = index, turn.swipes[index]

        return await self._modify(turn_id, change)

    async def posts_after(self, scene_id: int, seq: int, limit: int = 50) -> list[str]:
        """The player (and narration) posts in the channel after `seq`, oldest first."""
        stmt = (
            select(Turn.content)
            .where(Turn.scene_id == scene_id, *IN_HISTORY, SHARED, ~SECRET, Turn.seq > seq)
            .where(Turn.role != "model")
            .order_by(Turn.seq)
            .limit(limit)
        )
        async with self.db.session() as s:
            return list(await s.scalars(stmt))

    async def last(self, scene_id: int) -> Turn | None:
        """The newest turn of the history."""
        turns = await self.window(scene_id, 1)
        return turns[0] if turns else None

    async def count(self, scene_id: int) -> int:
        """Number of turns in the history."""
        stmt = select(func.count()).where(Turn.scene_id == scene_id, *IN_HISTORY)
        async with self.db.session() as s:
            return (await s.scalar(stmt)) or 0

    async def clear(self, scene_id: int, batch: int = CLEAR_BATCH) -> int:
        """Delete every turn of the scene, its summaries and chapters; how many turns there were.

        A batch per transaction, newest first: a long scene never holds the database's write
        lock for long, so other channels keep storing their turns meanwhile.
        """
        async with self.db.session() as s:
            # Summaries and chapters cover turns by seq, and seqs start again after a clear.
            await s.execute(delete(SceneSummary).where(SceneSummary.scene_id == scene_id))
            await s.execute(delete(SceneChapter).where(SceneChapter.scene_id == scene_id))
            await s.commit()
        newest = (
            select(Turn.id).where(Turn.scene_id == scene_id).order_by(Turn.id.desc()).limit(batch)
        )
        total = 0
        while True:
            async with self.db.session() as s:
                # No session sync: it would fetch every deleted id back and walk them on the loop.
                result = await s.execute(
                    delete(Turn).where(Turn.id.in_(newest.scalar_subquery())),
                    execution_options={"synchronize_session": False},
                )
                await s.commit()
            total += affected(result)
            if affected(result) < batch:
                return total

    async def iter_all(
        self, scene_id: int, batch: int = 500, *, include_deleted: bool = False
    ) -> AsyncIterator[Turn]:
        """The history oldest first (every stored row with ``include_deleted``), paged."""
        after = 0
        while True:
            stmt = select(Turn).where(Turn.scene_id == scene_id, Turn.seq > after)
            if not include_deleted:
                stmt = stmt.where(*IN_HISTORY)
            async with self.db.session() as s:
                page = list(await s.scalars(stmt.order_by(Turn.seq).limit(batch)))
            for turn in page:
                yield turn
            if len(page) < batch:
                return
            after = page[-1].seq
