"""Server lorebooks: books, their entries, and the scenes they are attached to."""

from __future__ import annotations

import dataclasses

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import NAME_MAX
from bot.lore.convert import book_from_card_book, entry_from_card, entry_to_card, export_card_book
from bot.lore.model import Lorebook, LoreEntry

from ._util import affected, name_key
from .database import Database
from .errors import DuplicateNameError, NotFoundError, StoreError
from .models import SceneLorebook, StoredLorebook, StoredLoreEntry, utcnow

__all__ = ["LoreStore", "book_name"]


def book_name(name: str | None) -> str:
    """A lorebook name fit to store: one line, within the name length."""
    return " ".join((name or "").split())[:NAME_MAX] or "Lorebook"


def _book_data(book: Lorebook) -> dict[str, object]:
    """The book's own fields, without its entries (stored as rows) and its name (a column)."""
    data = export_card_book(dataclasses.replace(book, entries=()))
    data.pop("entries", None)
    data.pop("name", None)
    return data


def _entry_row(book_id: int, position: int, entry: LoreEntry) -> StoredLoreEntry:
    data = entry_to_card(entry)
    content = data.pop("content")
    return StoredLoreEntry(
        book_id=book_id, position=position, title=entry.title, content=content, data=data
    )


def _entry(row: StoredLoreEntry) -> LoreEntry:
    return entry_from_card({**row.data, "content": row.content})


# Read on every round (the scene view), so built once.
_SCENE_BOOKS = (
    select(StoredLorebook)
    .join(SceneLorebook, SceneLorebook.book_id == StoredLorebook.id)
    .where(SceneLorebook.scene_id == bindparam("scene_id"))
    .order_by(SceneLorebook.added_at, StoredLorebook.id)
)


class LoreStore:
    """CRUD for server lorebooks and their scene links."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_book(
        self, guild_id: int, book: Lorebook, *, name: str | None = None, replace: bool = False
    ) -> StoredLorebook:
        """Store `book` under `name` (else its own); `replace` overwrites a book of that name."""
        final = book_name(name or book.name)
        key = name_key(final)
        async with self.db.session() as s:
            row = await s.scalar(
                select(StoredLorebook).where(
                    StoredLorebook.guild_id == guild_id, StoredLorebook.name_key == key
                )
            )
            if row is not None and not replace:
                raise DuplicateNameError(f"There is already a lorebook called {row.name}.")
            if row is None:
                row = StoredLorebook(guild_id=guild_id, name=final, name_key=key, revision=1)
                s.add(row)
            else:
                row.revision += 1
                await s.execute(delete(StoredLoreEntry).where(StoredLoreEntry.book_id == row.id))
            row.data = _book_data(book)
            await s.flush()
            s.add_all(_entry_row(row.id, i, e) for i, e in enumerate(book.entries))
            try:
                await s.commit()
            except IntegrityError as exc:  # a concurrent import of the same name won
                raise DuplicateNameError(f"There is already a lorebook called {final}.") from exc
        return row

    async def find(self, guild_id: int, name: str) -> StoredLorebook | None:
        """The guild's lorebook with this name (case-insensitive)."""
        stmt = select(StoredLorebook).where(
            StoredLorebook.guild_id == guild_id, StoredLorebook.name_key == name_key(name)
        )
        async with self.db.session() as s:
            return await s.scalar(stmt)

    async def list_books(self, guild_id: int) -> list[tuple[StoredLorebook, int]]:
        """(book, entry count) for every lorebook of the guild, by name."""
        count = (
            select(func.count(StoredLoreEntry.id))
            .where(StoredLoreEntry.book_id == StoredLorebook.id)
            .scalar_subquery()
        )
        stmt = (
            select(StoredLorebook, count)
            .where(StoredLorebook.guild_id == guild_id)
            .order_by(StoredLorebook.name_key, StoredLorebook.id)
        )
        async with self.db.session() as s:
            return [(book, int(n)) for book, n in await s.execute(stmt)]

    async def load(self, book_id: int) -> Lorebook:
        """The stored book with its entries, as a Lorebook."""
        async with self.db.session() as s:
            row = await _book(s, book_id)
            entries = await s.scalars(
                select(StoredLoreEntry)
                .where(StoredLoreEntry.book_id == book_id)
                .order_by(StoredLoreEntry.position)
            )
            book = book_from_card_book({**row.data, "name": row.name, "entries": []})
            return dataclasses.replace(book, entries=tuple(_entry(e) for e in entries))

    async def entries(self, book_id: int) -> list[tuple[int, LoreEntry]]:
        """(position, entry) for each entry of a book, in book order."""
        stmt = (
            select(StoredLoreEntry)
            .where(StoredLoreEntry.book_id == book_id)
            .order_by(StoredLoreEntry.position)
        )
        async with self.db.session() as s:
            return [(row.position, _entry(row)) for row in await s.scalars(stmt)]

    async def delete_book(self, book_id: int) -> None:
        """Delete a book; its entries and scene links go with it."""
        async with self.db.session() as s:
            result = await s.execute(delete(StoredLorebook).where(StoredLorebook.id == book_id))
            await s.commit()
        if affected(result) == 0:
            raise NotFoundError("That lorebook no longer exists.")

    async def add_entry(self, book_id: int, entry: LoreEntry) -> int:
        """Append an entry; returns its position (0-based)."""
        async with self.db.session() as s:
            await _book(s, book_id)
            last = await s.scalar(
                select(func.max(StoredLoreEntry.position)).where(StoredLoreEntry.book_id == book_id)
            )
            position = 0 if last is None else last + 1
            s.add(_entry_row(book_id, position, entry))
            await _bump(s, book_id)
            await s.commit()
        return position

    async def replace_entry(self, book_id: int, position: int, entry: LoreEntry) -> None:
        """Overwrite the entry at `position`."""
        async with self.db.session() as s:
            row = await _entry_at(s, book_id, position)
            new = _entry_row(book_id, position, entry)
            row.title, row.content, row.data = new.title, new.content, new.data
            await _bump(s, book_id)
            await s.commit()

    async def delete_entry(self, book_id: int, position: int) -> None:
        """Remove the entry at `position` (the positions after it keep their numbers)."""
        async with self.db.session() as s:
            await s.delete(await _entry_at(s, book_id, position))
            await _bump(s, book_id)
            await s.commit()

    async def attach(self, scene_id: int, book_id: int) -> bool:
        """Attach a book to a scene; False if it already is."""
        async with self.db.session() as s:
            if await s.get(SceneLorebook, (scene_id, book_id)) is not None:
                return False
            s.add(SceneLorebook(scene_id=scene_id, book_id=book_id))
            try:
                await s.commit()
            except IntegrityError:  # attached concurrently, or the scene or book is gone
                return False
        return True

    async def detach(self, scene_id: int, book_id: int) -> bool:
        """Detach a book from a scene; False if it was not attached."""
        async with self.db.session() as s:
            result = await s.execute(
                delete(SceneLorebook).where(
                    SceneLorebook.scene_id == scene_id, SceneLorebook.book_id == book_id
                )
            )
            await s.commit()
        return bool(affected(result))

    async def scene_books(self, scene_id: int) -> list[StoredLorebook]:
        """The books attached to a scene, in the order they were attached."""
        params = {"scene_id": scene_id}
        return await self.db.read(lambda s: list(s.scalars(_SCENE_BOOKS, params)))


async def _book(s: AsyncSession, book_id: int) -> StoredLorebook:
    row = await s.get(StoredLorebook, book_id)
    if row is None:
        raise NotFoundError("That lorebook no longer exists.")
    return row


async def _entry_at(s: AsyncSession, book_id: int, position: int) -> StoredLoreEntry:
    row = await s.scalar(
        select(StoredLoreEntry).where(
            StoredLoreEntry.book_id == book_id, StoredLoreEntry.position == position
        )
    )
    if row is None:
        raise StoreError(f"That lorebook has no entry {position + 1}.")
    return row


async def _bump(s: AsyncSession, book_id: int) -> None:
    """A new revision, so every cached compiled copy of the book is rebuilt."""
    await s.execute(
        update(StoredLorebook)
        .where(StoredLorebook.id == book_id)
        .values(revision=StoredLorebook.revision + 1, updated_at=utcnow())
    )
