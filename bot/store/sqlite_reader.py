"""The hottest reads of a SQLite file on a plain sqlite3 connection, on the caller's thread.

Two ways in: `rows` runs a compiled select on the driver itself; `read` runs synchronous ORM
reads on a session over the same connection (the scene view's cast and players: 0.3 ms each
inline against 1.2–1.6 ms through aiosqlite).

aiosqlite runs every call on its connection's own thread. For a read that is a short
indexed range scan (the prompt window: 128 rows, about 0.1 ms in sqlite3) handing it to that
thread and waking the event loop again costs more than the read itself: 0.4 ms against
0.13 ms in the bench, worse when the two threads land on different CPUs. Running such a read
synchronously keeps the loop blocked for less time than the hand-off would take.

In WAL mode a reader never waits for a writer, so the connection has no busy timeout: when
SQLite is busy anyway (a crash recovery, a file not in WAL) `rows` returns None and the
caller takes the ordinary, waiting path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

_WAIT_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
T = TypeVar("T")


class ReaderBusy(Exception):
    """SQLite asked to wait, or this is not the reader's thread: take the ordinary path."""


def _asks_to_wait(exc: sqlite3.Error | None) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _WAIT_CODES


class SqliteReader:
    """One read-only sqlite3 connection to a database file, opened on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._engine: Engine | None = None  # ORM sessions over that same connection
        self._thread = 0

    def rows(self, sql: str, args: Sequence[Any]) -> list[Any] | None:
        """Every row of `sql`; None when SQLite asks to wait or this is not the opening thread."""
        connection = self._connection or self._open()
        if self._thread != threading.get_ident():
            return None  # sqlite3 connections belong to the thread that opened them
        try:
            return connection.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if _asks_to_wait(exc):
                return None
            raise DBAPIError.instance(sql, list(args), exc, sqlite3.Error) from exc
        except sqlite3.Error as exc:
            # The error SQLAlchemy's own execution would raise (ProgrammingError, ...).
            raise DBAPIError.instance(sql, list(args), exc, sqlite3.Error) from exc

    def read(self, work: Callable[[Session], T]) -> T:
        """`work` on an ORM session over the connection; ReaderBusy where `rows` gives None."""
        if self._connection is None:
            self._open()
        if self._thread != threading.get_ident() or self._engine is None:
            raise ReaderBusy
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                return work(session)
        except OperationalError as exc:
            if isinstance(exc.orig, sqlite3.Error) and _asks_to_wait(exc.orig):
                raise ReaderBusy from exc
            raise

    def close(self) -> None:
        """Close the connection; the next read opens a new one."""
        if self._connection is not None and self._thread == threading.get_ident():
            self._connection.close()
        self._connection, self._engine = None, None

    def _open(self) -> sqlite3.Connection:
        # Autocommit: a SELECT then holds no transaction, so it always sees the latest commit.
        # timeout=0: sqlite3's default would block the event loop for up to 5 s when busy.
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        connection.execute("PRAGMA query_only=ON")
        self._connection, self._thread = connection, threading.get_ident()
        # No reset on return: in autocommit a read leaves no transaction to roll back.
        self._engine = create_engine(
            "sqlite://", creator=lambda: connection, poolclass=StaticPool, pool_reset_on_return=None
        )
        return connection
