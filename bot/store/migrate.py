"""Run the Alembic migrations programmatically, from inside a running event loop."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from .database import BUSY_TIMEOUT, connect

T = TypeVar("T")


def script_location() -> Path:
    """Directory of the installed ``migrations`` package (env.py, versions/, the template)."""
    # Not pyproject.toml's [tool.alembic]: a wheel carries the package but no pyproject.toml.
    return Path(str(files("migrations")))


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` built in code; no ini file is read."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("path_separator", "os")
    # configparser interpolates "%", which URL-encoded passwords contain.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def _with_connection(url: str, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in one transaction; DatabaseUnreachable if the connection fails."""
    # No PRAGMA foreign_keys here: batch migrations recreate SQLite tables and must not cascade.
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(
        url,
        poolclass=pool.NullPool,
        connect_args={"timeout": BUSY_TIMEOUT} if sqlite else {},
    )
    try:
        async with connect(engine) as conn, conn.begin():
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _command(url: str, run: Callable[[Config], None]) -> Callable[[Connection], None]:
    def fn(connection: Connection) -> None:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        run(cfg)

    return fn


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``; DatabaseUnreachable if it is down."""
    await _with_connection(url, _command(url, lambda cfg: command.upgrade(cfg, revision)))


async def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision``; DatabaseUnreachable if it is down."""
    await _with_connection(url, _command(url, lambda cfg: command.downgrade(cfg, revision)))


async def current_revision(url: str) -> str | None:
    """The database's revision (None if never migrated); DatabaseUnreachable if it is down."""

    def fn(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    return await _with_connection(url, fn)
