"""Chapters: the closed parts of each view's story so far, never rewritten but by a GM.

A view's chapters and its running summary together cover its turns: the chapters in order,
then the summary from the end of the last one. Closing a chapter and starting the summary over
happen in one transaction (`advance`), so no turn is ever in both or in neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ._util import affected
from .database import Database
from .errors import NotFoundError, StoreError
from .models import CHAPTER_TITLE_MAX, SceneChapter, SceneSummary
from .summaries import SHARED_VIEW, StorySummary

__all__ = ["CHAPTER_TITLE_MAX", "Chapter", "ChapterStore", "NewChapter", "merged_text"]


@dataclass(frozen=True)
class NewChapter:
    """A chapter to store: its title, its summary and the turns it covers (seqs, inclusive)."""

    title: str
    text: str
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class Chapter:
    """A stored chapter of one view of a scene."""

    id: int
    scene_id: int
    view: str
    title: str
    text: str
    first_seq: int
    last_seq: int
    edited: bool


def merged_text(first: Chapter, second: Chapter) -> str:
    """The text two chapters make when merged: both summaries, in order."""
    return f"{first.text}\n\n{second.text}"


def _chapter(row: SceneChapter) -> Chapter:
    return Chapter(
        row.id,
        row.scene_id,
        row.view,
        row.title,
        row.text,
        row.first_seq,
        row.last_seq,
        row.edited,
    )


def _row(scene_id: int, view: str, new: NewChapter) -> SceneChapter:
    if not new.title or len(new.title) > CHAPTER_TITLE_MAX:
        raise StoreError(f"A chapter's title is 1 to {CHAPTER_TITLE_MAX} characters long.")
    if not 0 < new.first_seq <= new.last_seq:
        raise StoreError("A chapter covers at least one turn.")
    return SceneChapter(
        scene_id=scene_id,
        view=view,
        title=new.title,
        text=new.text,
        first_seq=new.first_seq,
        last_seq=new.last_seq,
    )


class ChapterStore:
    """Add, list, edit, merge and clear the chapters of a scene's views."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, scene_id: int, new: NewChapter, view: str = SHARED_VIEW) -> Chapter:
        """Store a chapter of this view (a scene file, a GM's import)."""
        async with self.db.session() as s:
            row = _row(scene_id, view, new)
            s.add(row)
            await s.commit()
            await s.refresh(row)
            return _chapter(row)

    async def of_view(self, scene_id: int, view: str = SHARED_VIEW) -> list[Chapter]:
        """This view's chapters, oldest first."""
        c = SceneChapter
        stmt = select(c).where(c.scene_id == scene_id, c.view == view).order_by(c.first_seq, c.id)
        async with self.db.session() as s:
            return [_chapter(row) for row in await s.scalars(stmt)]

    async def ends(self, scene_id: int) -> dict[str, int]:
        """The seq of the last turn each view's chapters cover, by view key."""
        c = SceneChapter
        stmt = select(c.view, func.max(c.last_seq)).where(c.scene_id == scene_id).group_by(c.view)
        async with self.db.session() as s:
            return {view: int(end) for view, end in (await s.execute(stmt)).all()}

    async def get(self, chapter_id: int) -> Chapter:
        """One chapter by id."""
        async with self.db.session() as s:
            row = await s.get(SceneChapter, chapter_id)
            if row is None:
                raise NotFoundError("That chapter no longer exists.")
            return _chapter(row)

    async def edit(
        self, chapter_id: int, *, title: str | None = None, text: str | None = None
    ) -> Chapter:
        """A GM's new title and/or text for a chapter; it is marked edited."""
        async with self.db.session() as s:
            row = await s.get(SceneChapter, chapter_id, with_for_update=True)
            if row is None:
                raise NotFoundError("That chapter no longer exists.")
            if title is not None:
                if not title or len(title) > CHAPTER_TITLE_MAX:
                    raise StoreError(f"A chapter's title is 1 to {CHAPTER_TITLE_MAX} characters.")
                row.title = title
            if text is not None:
                row.text = text
            row.edited = True
            await s.commit()
            await s.refresh(row)  # as stored (the column types clean the text)
            return _chapter(row)

    async def merge(self, first_id: int, second_id: int) -> Chapter:
        """Merge a chapter with the next one of its view: one chapter, the first's title."""
        async with self.db.session() as s:
            first = await s.get(SceneChapter, first_id, with_for_update=True)
            second = await s.get(SceneChapter, second_id, with_for_update=True)
            if first is None or second is None:
                raise NotFoundError("That chapter no longer exists.")
            c = SceneChapter
            between = await s.scalar(
                select(func.count())
                .select_from(c)
                .where(
                    c.scene_id == first.scene_id,
                    c.view == first.view,
                    c.id != first.id,
                    c.first_seq >= first.first_seq,
                    c.first_seq < second.first_seq,
                )
            )
            if (
                first.id == second.id
                or (second.scene_id, second.view) != (first.scene_id, first.view)
                or second.first_seq < first.first_seq
                or between
            ):
                raise StoreError("Only a chapter and the next one of the same story can merge.")
            first.text = merged_text(_chapter(first), _chapter(second))
            first.last_seq = max(first.last_seq, second.last_seq)
            first.edited = True
            await s.delete(second)
            await s.commit()
            await s.refresh(first)
            return _chapter(first)

    async def clear(self, scene_id: int) -> int:
        """Delete every chapter of the scene (its history was cleared); how many there were."""
        async with self.db.session() as s:
            result = await s.execute(delete(SceneChapter).where(SceneChapter.scene_id == scene_id))
            await s.commit()
        return affected(result)

    async def advance(
        self,
        scene_id: int,
        view: str,
        summary: StorySummary,
        *,
        expect: StorySummary | None,
        chapters: Sequence[NewChapter],
    ) -> bool:
        """Store `chapters` and `summary` as this view's, only if its summary is still `expect`.

        One transaction: a chapter is closed exactly when the summary starts over after it.
        """
        async with self.db.session() as s:
            row = await s.get(SceneSummary, (scene_id, view), with_for_update=True)
            current = None if row is None else StorySummary(row.text, row.summary_through)
            if current != expect:
                return False  # a GM edit or clear came first: theirs wins
            s.add_all([_row(scene_id, view, new) for new in chapters])
            if row is None:
                s.add(
                    SceneSummary(
                        scene_id=scene_id,
                        view=view,
                        text=summary.text,
                        summary_through=summary.through,
                    )
                )
            else:
                row.text, row.summary_through = summary.text, summary.through
            try:
                await s.commit()
            except IntegrityError:  # the summary was created concurrently
                return False
        return True
