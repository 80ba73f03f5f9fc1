"""The story so far: each scene's running summary and the last turn it covers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ._util import affected
from .database import Database
from .models import SceneSummary


@dataclass(frozen=True)
class StorySummary:
    """A scene's summary text and the seq of the newest turn it covers."""

    text: str
    through: int


class SummaryStore:
    """Read, write and clear a scene's running summary."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, scene_id: int) -> StorySummary | None:
        """The scene's summary, if it has one."""
        async with self.db.session() as s:
            row = await s.get(SceneSummary, scene_id)
            return None if row is None else StorySummary(row.text, row.summary_through)

    async def put(self, scene_id: int, summary: StorySummary) -> None:
        """Store `summary` as the scene's (a GM edit, a scene file)."""
        await self._write(scene_id, summary, check=False, expect=None)

    async def replace(
        self, scene_id: int, summary: StorySummary, *, expect: StorySummary | None
    ) -> bool:
        """Store `summary` only if the stored one is still `expect`; False otherwise."""
        return await self._write(scene_id, summary, check=True, expect=expect)

    async def _write(
        self, scene_id: int, summary: StorySummary, *, check: bool, expect: StorySummary | None
    ) -> bool:
        async with self.db.session() as s:
            row = await s.get(SceneSummary, scene_id, with_for_update=True)
            current = None if row is None else StorySummary(row.text, row.summary_through)
            if check and current != expect:
                return False  # a GM edit or clear came first: theirs wins
            if row is None:
                s.add(
                    SceneSummary(
                        scene_id=scene_id, text=summary.text, summary_through=summary.through
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
        """Forget the scene's summary; False if it had none."""
        async with self.db.session() as s:
            result = await s.execute(delete(SceneSummary).where(SceneSummary.scene_id == scene_id))
            await s.commit()
        return bool(affected(result))
