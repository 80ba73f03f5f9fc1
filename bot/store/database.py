"""Async engine and session factory."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Engine, Select, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from .errors import DatabaseUnreachable
from .models import Character
from .sqlite_reader import ReaderBusy, SqliteReader
from .sqlite_writer import SqliteWriter

# Seconds a SQLite writer waits for another writer's lock before giving up.
BUSY_TIMEOUT = 15.0

# PostgreSQL SQLSTATEs of a server that cannot write now: a connection exception (08), insufficient
# resources such as a full disk (53), operator intervention such as a shutdown or restart (57),
# a read-only transaction (25006).
_REFUSING_STATES = ("08", "53", "57", "25006")
# A busy SQLite file is no refusal: its lock clears by itself while the writer waits and retries.
_BUSY = ("database is locked", "database table is locked")
# More than a page of text: a write that needs new pages, as every real post may.
_PROBE_TEXT = "." * 16384
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
Ts = TypeVarTuple("Ts")
T = TypeVar("T")


def is_sqlite_memory(url: URL) -> bool:
    """True when the URL names an in-memory SQLite database."""
    db = url.database or ""
    return (
        db in ("", ":memory:")
        or db.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    )


def install_sqlite_pragmas(
    engine: AsyncEngine | Engine, busy_timeout: float = BUSY_TIMEOUT
) -> None:
    """Turn on foreign keys, the busy timeout (and WAL for files) on every SQLite connection."""
    if engine.dialect.name != "sqlite":
        return
    wal = not is_sqlite_memory(engine.url)
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            # Set first: switching to WAL itself may have to wait for another connection.
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                # FULL, not WAL's usual NORMAL: NORMAL skips the fsync at each commit, so a power
                # cut or OS crash may undo the last few seconds of commits, among them NPC turns
                # already posted (the read-back after a restart restores players' posts only) and
                # the channel and the history would disagree. A kill of the bot loses nothing
                # under either. The fsync is ~0.4 ms of a 1.7 ms stored turn (tavernkeep bench).
                cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()


def describe_url(url: str | URL) -> str:
    """Where a URL points, for messages: host:port/database, never the password."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    port = url.port or _DEFAULT_PORTS.get(url.get_backend_name())
    host = url.host or "localhost"
    return f"{host}:{port}/{url.database or ''}" if port else f"{host}/{url.database or ''}"


def failure_reason(exc: BaseException) -> str:
    """A short lowercase reason for a failed database call, without the SQL it ran."""
    if isinstance(exc, DBAPIError):
        return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def refuses_writes(exc: BaseException) -> bool:
    """Whether a failed call looks like a database that cannot write now: down, full, read-only.

    Only a hint (an OperationalError may be a bug's "no such table"): `probe_writes` confirms it.
    """
    if isinstance(exc, DatabaseUnreachable | OSError):  # refused or dropped connections, timeouts
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if any(busy in failure_reason(exc).lower() for busy in _BUSY):
        return False
    state = str(getattr(exc.orig, "sqlstate", None) or "")
    return (
        exc.connection_invalidated
        or isinstance(exc, OperationalError | InterfaceError)
        or (bool(state) and state.startswith(_REFUSING_STATES))
    )


def unreachable(url: str | URL, exc: BaseException) -> DatabaseUnreachable:
    """The one-line error for a database that refused or failed the connection."""
    url = make_url(url)
    message = f"cannot reach the database at {describe_url(url)}: {failure_reason(exc)}"
    if url.password:  # drivers should not echo it, but a message must never carry it
        message = message.replace(str(url.password), "***")
    return DatabaseUnreachable(message)


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection; failing to open it raises DatabaseUnreachable, errors later pass through."""
    try:
        conn = await engine.connect()
    except (OSError, DBAPIError) as exc:
        raise unreachable(engine.url, exc) from exc
    try:
        yield conn
    finally:
        await conn.close()


def _engine_options(url: URL) -> dict[str, Any]:
    """Engine keyword arguments for the URL's backend."""
    if url.get_backend_name() == "sqlite":
        # Connection.close() already rolls back a transaction it began; the pool's own reset
        # rollback would be one more trip to aiosqlite's thread on every read (half its cost).
        return {"pool_reset_on_return": None}
    # A server restart leaves dead connections in the pool; test each one before use.
    return {"pool_pre_ping": True}


Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _DriverQuery:
    """A select compiled once for the driver: its SQL, its parameters' order, and the type
    conversions SQLAlchemy's own execution would apply (booleans, JSON, dates on SQLite)."""

    sql: str
    compiled: SQLCompiler
    binds: Mapping[str, Processor]  # bind name -> processor, for the parameters that need one
    results: tuple[tuple[int, Processor], ...]  # (column index, processor) for those that do

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters, with the ones the statement fixes itself (OFFSET 0)."""
        values = self.compiled.construct_params(params)
        binds = self.binds
        return [
            binds[name](values[name]) if name in binds else values[name]
            for name in self.compiled.positiontup or ()
        ]

    def convert(self, rows: list[Any]) -> list[Any]:
        """The driver's rows with each column as SQLAlchemy would have returned it."""
        if not self.results:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, process in self.results:
                values[index] = process(values[index])
            converted.append(tuple(values))
        return converted


def _driver_query(stmt: Select[*tuple[Any, ...]], engine: AsyncEngine) -> _DriverQuery | None:
    """`stmt` compiled for the engine's driver; None where the driver cannot run it alone."""
    dialect = engine.dialect
    compiled = stmt.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler) or not dialect.positional:
        return None
    binds = {
        name: process
        for name, bind in compiled.binds.items()
        if (process := bind.type.bind_processor(dialect)) is not None
    }
    results = tuple(
        (index, process)
        for index, column in enumerate(stmt.selected_columns)
        if (process := column.type.result_processor(dialect, None)) is not None
    )
    return _DriverQuery(compiled.string, compiled, binds, results)


def _is_plain_file(url: URL) -> bool:
    """Whether the URL is a SQLite file with no driver options (the fast paths' case)."""
    return url.get_backend_name() == "sqlite" and not is_sqlite_memory(url) and not url.query


class Database:
    """Owns the engine and hands out one session per unit of work."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.url = url
        parsed = make_url(url)
        self.engine: AsyncEngine = create_async_engine(parsed, echo=echo, **_engine_options(parsed))
        install_sqlite_pragmas(self.engine, busy_timeout)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The fast paths bypass the engine's statement logging: off while it is asked for.
        fast = _is_plain_file(parsed) and not echo
        self._reader = SqliteReader(str(parsed.database)) if fast else None
        self._writer = (
            SqliteWriter(parsed, lambda e: install_sqlite_pragmas(e, busy_timeout))
            if fast
            else None
        )
        self._driver_queries: dict[Select[*tuple[Any, ...]], _DriverQuery | None] = {}

    def session(self) -> AsyncSession:
        """A new session; use as ``async with db.session() as s:``."""
        return self.sessionmaker()

    async def rows(self, stmt: Select[*Ts], params: Mapping[str, Any]) -> Sequence[tuple[*Ts]]:
        """Every row of a prebuilt read-only select, as tuples, without holding a transaction.

        For reads that run on every round. `stmt` should be a module-level constant with
        `bindparam`s for what varies: on a SQLite file its compiled form is kept per statement
        and it runs on a plain sqlite3 connection (see SqliteReader), bypassing engine events
        and statement logging, with the columns' and parameters' types converted as
        SQLAlchemy's own execution would.
        """
        if self._reader is not None:
            if stmt not in self._driver_queries:
                self._driver_queries[stmt] = _driver_query(stmt, self.engine)
            query = self._driver_queries[stmt]
            if query is not None:
                rows = self._reader.rows(query.sql, query.args(params))
                if rows is not None:
                    return query.convert(rows)
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt, params)).all()

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run `work`, synchronous ORM reads, with no transaction held.

        For reads that run on every round: on a SQLite file on the plain reader connection
        (see SqliteReader), elsewhere on a session of the engine.
        """
        if self._reader is not None:
            with contextlib.suppress(ReaderBusy):
                return self._reader.read(work)
        async with self.session() as s:
            return await s.run_sync(work)

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run `work`, synchronous ORM code that commits what it keeps, in one transaction.

        For writes that run on every round: on a SQLite file the whole of it runs on one
        thread of its own (see SqliteWriter); elsewhere on a session of the engine.
        """
        if self._writer is not None:
            return await self._writer.run(work)
        async with self.session() as s:
            return await s.run_sync(work)

    def sync_engines(self) -> list[Engine]:
        """Every engine whose connections this database uses (for event listeners)."""
        engines = [self.engine.sync_engine]
        return engines if self._writer is None else [*engines, self._writer.engine]

    async def ping(self) -> None:
        """Round-trip a trivial query; DatabaseUnreachable if the database cannot be reached."""
        async with connect(self.engine) as conn:
            await conn.execute(text("SELECT 1"))

    async def probe_writes(self) -> None:
        """Commit a write of a few pages that leaves nothing behind; raises while writes fail."""
        # Committed, not rolled back: a SQLite file finds its disk full only when it commits.
        # The row goes in the same transaction, so nobody ever reads it.
        name = f"write probe {uuid.uuid4().hex}"
        async with self.session() as s:
            probe = Character(
                guild_id=0, kind="npc", name=name, name_key=name, owner_key=0, sheet=_PROBE_TEXT
            )
            s.add(probe)
            await s.flush()
            await s.delete(probe)
            await s.commit()

    async def dispose(self) -> None:
        """Close all pooled connections."""
        if self._reader is not None:
            self._reader.close()
        if self._writer is not None:
            await self._writer.dispose()
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"<Database {self.engine.url!r}>"
