"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bot.store import Database
from bot.store.migrate import upgrade


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite file migrated to head with the real Alembic migrations."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tavernkeep.db'}"
    await upgrade(url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
