"""Async engine and session factory."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite_memory(url: URL) -> bool:
    """True when the URL names an in-memory SQLite database."""
    db = url.database or ""
    return (
        db in ("", ":memory:")
        or db.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    )


def install_sqlite_pragmas(engine: AsyncEngine) -> None:
    """Turn on foreign keys (and WAL for files) on every new SQLite connection."""
    if engine.dialect.name != "sqlite":
        return
    wal = not is_sqlite_memory(engine.url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()


class Database:
    """Owns the engine and hands out one session per unit of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(make_url(url), echo=echo)
        install_sqlite_pragmas(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A new session; use as ``async with db.session() as s:``."""
        return self.sessionmaker()

    async def ping(self) -> None:
        """Round-trip a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close all pooled connections."""
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"<Database {self.engine.url!r}>"
