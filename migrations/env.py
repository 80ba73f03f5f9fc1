"""Alembic environment: async, batch mode for SQLite, URL from code or DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

try:
    from bot.store.models import Base
    from bot.store.search import include_object
except ModuleNotFoundError:  # plain `alembic` CLI from an uninstalled checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bot.store.models import Base
    from bot.store.search import include_object

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # get_alembic_option, unlike get_main_option, tolerates a missing alembic.ini (plain CLI).
    url = config.get_alembic_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("Set DATABASE_URL (or pass a URL via bot.store.migrate).")
    return url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a sync connection (possibly wrapped around an async one)."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open our own async engine (command-line use)."""
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    do_run_migrations(connection)
else:
    asyncio.run(run_async_migrations())
