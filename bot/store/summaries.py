"""The story so far: each view's running summary and the last turn it covers.

A scene has one story everyone shares (view ""), and one of its own for each character whose
view differs from it (`view_key`): characters who saw the same share the same story.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from ._util import affected
from .database import Database
from .models import SceneSummary


@dataclass(frozen=True)
class StorySummary:
    """A scene's summary text and the seq of the newest turn it covers."""

    text: str
    through: int


SHARED_VIEW = ""

_VIEWS = select(SceneSummary.view, SceneSummary.text, SceneSummary.summary_through).where(
    SceneSummary.scene_id == bindparam("scene_id")
)


def view_key(character_id: int) -> str:
    """The summary key of a character whose view differs from the shared one."""
    return f"c{character_id}"


class SummaryStore:
    """Read, write and clear a scene's running summary."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, scene_id: int, view: str = SHARED_VIEW) -> StorySummary | None:
        """The summary of this view of the scene, if it has one."""
        async with self.db.session() as s:
            row = await s.get(SceneSummary, (scene_id, view))
            return None if row is None else StorySummary(row.text, row.summary_through)

    async def views(self, scene_id: int) -> dict[str, StorySummary]:
        """Every view's summary of the scene, by view key (read for every round)."""
        rows = await self.db.rows(_VIEWS, {"scene_id": scene_id})
        return {view: StorySummary(text, through) for view, text, through in rows}

    async def put(self, scene_id: int, summary: StorySummary, view: str = SHARED_VIEW) -> None:
        """Store `summary` as this view's (a GM edit, a scene file)."""
        await self._write(scene_id, view, summary, check=False, expect=None)

    async def replace(
        self,
        scene_id: int,
        summary: StorySummary,
        *,
        expect: StorySummary | None,
        view: str = SHARED_VIEW,
    ) -> bool:
        """Store `summary` only if the stored one is still `expect`; False otherwise."""
        return await self._write(scene_id, view, summary, check=True, expect=expect)

    async def _write(
        self,
        scene_id: int,
        view: str,
        summary: StorySummary,
        *,
        check: bool,
        expect: StorySummary | None,
    ) -> bool:
        async with self.db.session() as s:
            row = await s.get(SceneSummary, (scene_id, view), with_for_update=True)
            current = None if row is None else StorySummary(row.text, row.summary_through)
            if check and current != expect:
                return False  # a GM edit or clear came first: theirs wins
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
            except IntegrityError:  # created concurrently
                return False
        return True

    async def clear(self, scene_id: int) -> bool:
        """Forget every view's summary of the scene; False if it had none."""
        async with self.db.session() as s:
            result = await s.execute(delete(SceneSummary).where(SceneSummary.scene_id == scene_id))
            await s.commit()
        return bool(affected(result))
