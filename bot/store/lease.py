"""One bot per database: the lease `tavernkeep run` holds for as long as it runs.

Two bots on one database would both answer every channel. `DatabaseLease.acquire()` takes a lock
that dies with the process holding it, so a second `run` (by mistake, or a service manager's
restart overlapping the old process) refuses to start and names the holder, and the next start
after the holder is gone (stopped, or killed with SIGKILL) takes over at once:

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own,
  kept for the process's lifetime. The server drops the lock with the connection, so a killed
  process frees it. The connection's `application_name` names the holder (pid and host) and its
  `backend_start` is the holder's start time, so the record dies with the lock as well.
- SQLite file: an OS file lock (`fcntl.flock`) on `<database>.lock` next to the database file.
  The kernel drops it when the process dies, however it dies, so unlike a lock row with a
  heartbeat timestamp there is no staleness to guess, no wait of N missed beats before a restart
  may take over, and no write to the database itself. `flock` rather than `fcntl`/`lockf`
  record locks: those are per process (a second lease in the same process would be granted) and
  any close of the file by the process drops them. The file holds who has the lease, as JSON.
- In-memory SQLite: nothing to share, so no lease. Other backends: none either.

The heartbeat checks every few seconds that the lock is still this process's: that the
PostgreSQL connection is alive (which also keeps idle-session timeouts and proxies from closing
it), or that `<database>.lock` was not deleted or replaced. A lock lost that way is taken again;
if another process took it meanwhile, the lease is lost and `while_held` stops the work it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from .database import failure_reason, is_sqlite_memory, unreachable
from .errors import StoreError

T = TypeVar("T")

log = logging.getLogger("tavernkeep.lease")

# Seconds between two checks that the lock is still ours.
HEARTBEAT_SECONDS = 5.0
# The advisory lock's key ("TAVK"); advisory locks are per database, so one key serves them all.
ADVISORY_KEY = 0x5441564B
# `application_name` of the lease connection: this prefix, then `<pid>@<host>` (63 bytes at most).
APPLICATION_PREFIX = "tavernkeep "
_NAME_LIMIT = 63


@dataclass(frozen=True)
class LeaseHolder:
    """The process holding a lease: its host, its pid, and since when it holds it."""

    host: str
    pid: int
    since: datetime | None = None

    @classmethod
    def this_process(cls) -> LeaseHolder:
        """This process, from now."""
        return cls(socket.gethostname(), os.getpid(), datetime.now(UTC))

    def is_process(self, other: LeaseHolder) -> bool:
        """Whether both name the same process (start times aside)."""
        return (self.host, self.pid) == (other.host, other.pid)

    def describe(self) -> str:
        """`pid 1234 on host, since 21:40` (with the date when it is not today)."""
        where = f"pid {self.pid} on {self.host}"
        if self.since is None:
            return where
        local = self.since.astimezone()
        same_day = local.date() == datetime.now().astimezone().date()
        return f"{where}, since {local.strftime('%H:%M' if same_day else '%Y-%m-%d %H:%M')}"


class LeaseHeld(StoreError):
    """Another Tavernkeep holds this database's lease."""

    def __init__(self, holder: LeaseHolder | None) -> None:
        self.holder = holder
        named = f" ({holder.describe()})" if holder is not None else ""
        super().__init__(f"another Tavernkeep{named} is running on this database; stop it first.")


class LeaseLost(StoreError):
    """The lease was lost while running (its lock file deleted, its connection cut) and taken."""

    def __init__(self, holder: LeaseHolder | None) -> None:
        self.holder = holder
        named = f" ({holder.describe()})" if holder is not None else ""
        super().__init__(
            f"this Tavernkeep lost its lease on the database to another one{named}; stopped."
        )


class _Lock(Protocol):
    """One backend's lock behind the lease."""

    async def take(self, me: LeaseHolder) -> bool:
        """Take the lock if it is free (dropping what is left of an earlier hold)."""

    async def still_held(self) -> bool:
        """Whether the lock taken is still this process's (the heartbeat)."""

    async def holder(self) -> LeaseHolder | None:
        """Who holds the lock now; None when nobody does, or the holder cannot be told."""

    async def drop(self) -> None:
        """Let the lock go."""


class _FileLock:
    """`flock` on `<database>.lock`; the file says who holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def take(self, me: LeaseHolder) -> bool:
        self._forget()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot open the lock file {self.path}: {failure_reason(exc)}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        record = {
            "host": me.host,
            "pid": me.pid,
            "since": me.since.isoformat() if me.since else None,
        }
        with contextlib.suppress(OSError):  # a full disk: the lock holds, unnamed
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        # Deleted or replaced, the path no longer leads to our lock: a new start would get one.
        return self._fd is not None and self._on_path(self._fd)

    async def holder(self) -> LeaseHolder | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _parse_record(os.pread(fd, 4096, 0))
            return None  # nobody holds it (the file stays behind after a holder is gone)
        finally:
            os.close(fd)  # drops the shared lock, if taken

    async def drop(self) -> None:
        if self._fd is not None and self._on_path(self._fd):
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)  # a clean stop leaves no holder named
        self._forget()

    def _forget(self) -> None:
        """Close the file, which drops the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _on_path(self, fd: int) -> bool:
        """Whether the lock file's path still leads to the file `fd` has open."""
        try:
            on_disk, ours = os.stat(self.path), os.fstat(fd)
        except OSError:
            return False
        return (on_disk.st_dev, on_disk.st_ino) == (ours.st_dev, ours.st_ino)


def _parse_record(raw: bytes) -> LeaseHolder | None:
    """The holder a lock file names; None for an empty or unreadable one."""
    try:
        record, _ = json.JSONDecoder().raw_decode(raw.decode())
        since = datetime.fromisoformat(record["since"]) if record.get("since") else None
        return LeaseHolder(str(record["host"]), int(record["pid"]), since)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


_HOLDER_SQL = text(
    "SELECT a.application_name, a.backend_start"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1"
)


class _AdvisoryLock:
    """`pg_try_advisory_lock` on a connection of its own, named after the holder."""

    def __init__(self, url: URL, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None

    def _engine_for(self) -> AsyncEngine:
        if self._engine is None:
            # NullPool: the lease connection is never shared, and a closed one is really closed.
            self._engine = create_async_engine(self.url, poolclass=NullPool)
        return self._engine

    async def _connect(self) -> AsyncConnection:
        async with self._answering():
            conn = await self._engine_for().connect()
        return await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def take(self, me: LeaseHolder) -> bool:
        await self._close()
        conn = await self._connect()
        try:
            async with self._answering():
                # Named first, so whoever sees the lock held can see who holds it.
                name = f"{APPLICATION_PREFIX}{me.pid}@{me.host}".encode()[:_NAME_LIMIT]
                await conn.execute(
                    text("SELECT set_config('application_name', :name, false)"),
                    {"name": name.decode(errors="ignore")},
                )
                taken = await conn.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                )
        except BaseException:
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        return True

    @contextlib.asynccontextmanager
    async def _answering(self) -> AsyncIterator[None]:
        """Within the timeout; a failed call raises DatabaseUnreachable."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except (OSError, DBAPIError, TimeoutError) as exc:
            raise unreachable(self.url, exc) from exc

    async def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            # A session lock lives as long as its session: a live connection still holds it.
            async with asyncio.timeout(self.timeout):
                await self._conn.execute(text("SELECT 1"))
        except (OSError, SQLAlchemyError, TimeoutError):
            # A query cancelled mid-way leaves the connection unusable (PendingRollbackError).
            return False
        return True

    async def holder(self) -> LeaseHolder | None:
        conn = await self._connect()
        try:
            async with self._answering():
                row = (await conn.execute(_HOLDER_SQL, {"key": ADVISORY_KEY})).first()
        finally:
            await conn.close()
        if row is None:
            return None
        name, started = row
        pid, _, host = str(name or "").removeprefix(APPLICATION_PREFIX).partition("@")
        if not str(name or "").startswith(APPLICATION_PREFIX) or not pid.isdigit() or not host:
            return None
        return LeaseHolder(host, int(pid), started)

    async def drop(self) -> None:
        if self._conn is not None:
            # An unusable connection (the heartbeat's query cancelled by `release`) cannot
            # unlock; closing it below ends its session, and the session's lock with it.
            with contextlib.suppress(OSError, SQLAlchemyError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await self._conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                    )
        await self._close()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, SQLAlchemyError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await conn.close()


def _lock_for(url: URL, timeout: float) -> _Lock | None:
    """The lock behind a lease on `url`; None where there is nothing to share."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        return _AdvisoryLock(url, timeout)
    if backend != "sqlite" or is_sqlite_memory(url):
        return None
    database = str(url.database).removeprefix("file:").partition("?")[0]
    # Resolved: a symlink or another relative path to the same file must find the same lock.
    path = Path(database).resolve()
    return _FileLock(path.with_name(path.name + ".lock"))


class DatabaseLease:
    """The one-bot-per-database lease: `acquire()` or `LeaseHeld`, then `release()`."""

    def __init__(self, url: str, *, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self._lock = _lock_for(make_url(url), timeout=max(heartbeat_seconds, 5.0))
        self._me: LeaseHolder | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._taken_by: LeaseHolder | None = None

    @property
    def needed(self) -> bool:
        """False for a database no other process can open (in-memory SQLite)."""
        return self._lock is not None

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now."""
        return self._me is not None and not self._lost.is_set()

    @property
    def lost(self) -> bool:
        """Whether the lease was lost to another process while held."""
        return self._lost.is_set()

    async def acquire(self) -> None:
        """Take the lease, or raise `LeaseHeld` naming who has it; the heartbeat starts."""
        if self._lock is None or self._me is not None:
            return
        me = LeaseHolder.this_process()
        if not await self._lock.take(me):
            raise LeaseHeld(await self._lock.holder())
        self._me = me
        self._lost.clear()
        self._heartbeat = asyncio.create_task(self._beat(), name="tavernkeep-lease")

    async def holder(self) -> LeaseHolder | None:
        """Who holds the lease now, without taking it (this process, if it does)."""
        return await self._lock.holder() if self._lock is not None else None

    async def release(self) -> None:
        """Let the lease go (nothing happens when it is not held)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        if self._lock is not None and self._me is not None:
            await self._lock.drop()
        self._me = None

    async def while_held(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work`; if the lease is lost meanwhile, cancel it and raise `LeaseLost`."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task in done:
            return task.result()
        raise LeaseLost(self._taken_by)

    async def renew(self) -> None:
        """One heartbeat: the lock is still ours, or is taken again, or the lease is lost."""
        me = self._me
        if self._lock is None or me is None or self._lost.is_set():
            return
        if await self._lock.still_held():
            return
        try:
            if await self._lock.take(me):
                log.warning("the database lease was interrupted; this process holds it again")
                return
            holder = await self._lock.holder()
        except StoreError as exc:  # out of reach for us is out of reach for another bot too
            log.warning("cannot renew the database lease: %s", exc)
            return
        if holder is not None and holder.is_process(me):
            return  # our own old connection, which the server has not let go of yet
        self._taken_by = holder
        log.error("%s", LeaseLost(holder))
        self._lost.set()

    async def _beat(self) -> None:
        """The heartbeat: `renew` every `heartbeat_seconds` until the lease is lost."""
        while not self._lost.is_set():
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.renew()
            except Exception:  # a bug here must not end the heartbeat unseen
                log.exception("the database lease heartbeat failed")
