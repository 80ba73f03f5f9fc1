"""SqliteReader: the hot reads' plain sqlite3 connection, and when it steps aside."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.store import Database, SceneStore, TurnStore, upgrade
from bot.store.sqlite_reader import SqliteReader


def _database(path: Path, journal: str) -> sqlite3.Connection:
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute(f"PRAGMA journal_mode={journal}")
    writer.execute("CREATE TABLE t (n INTEGER)")
    writer.execute("INSERT INTO t VALUES (1), (2)")
    return writer


def test_reads_every_commit_of_other_connections(tmp_path: Path) -> None:
    writer = _database(tmp_path / "a.db", "wal")
    reader = SqliteReader(str(tmp_path / "a.db"))
    assert reader.rows("SELECT n FROM t ORDER BY n", ()) == [(1,), (2,)]
    writer.execute("INSERT INTO t VALUES (3)")
    # Autocommit: no snapshot is held between reads.
    assert reader.rows("SELECT n FROM t WHERE n > ? ORDER BY n", (1,)) == [(2,), (3,)]
    # A WAL reader is not held up by a writer's open transaction, and does not see it.
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (4)")
    assert reader.rows("SELECT count(*) FROM t", ()) == [(3,)]
    writer.execute("COMMIT")
    reader.close()
    writer.close()


def test_steps_aside_when_sqlite_is_busy(tmp_path: Path) -> None:
    """Not in WAL, a writer's exclusive lock makes SQLite busy: the caller must wait instead."""
    writer = _database(tmp_path / "b.db", "delete")
    reader = SqliteReader(str(tmp_path / "b.db"))
    # It never waits: waiting would hold up the event loop it runs on.
    assert reader.rows("PRAGMA busy_timeout", ()) == [(0,)]
    writer.execute("BEGIN EXCLUSIVE")
    assert reader.rows("SELECT n FROM t", ()) is None
    writer.execute("COMMIT")
    assert reader.rows("SELECT n FROM t ORDER BY n", ()) == [(1,), (2,)]
    reader.close()
    writer.close()


def test_steps_aside_on_another_thread(tmp_path: Path) -> None:
    _database(tmp_path / "c.db", "wal").close()
    reader = SqliteReader(str(tmp_path / "c.db"))
    assert reader.rows("SELECT count(*) FROM t", ()) == [(2,)]
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(reader.rows("SELECT 1", ())))
    thread.start()
    thread.join()
    assert seen == [None]
    reader.close()


def test_errors_are_sqlalchemys_and_writes_are_refused(tmp_path: Path) -> None:
    _database(tmp_path / "d.db", "wal").close()
    reader = SqliteReader(str(tmp_path / "d.db"))
    with pytest.raises(OperationalError, match="no such table"):
        reader.rows("SELECT * FROM missing", ())
    with pytest.raises(DBAPIError, match="readonly database"):
        reader.rows("DELETE FROM t", ())
    reader.close()
    # Closing is not the end: the next read opens the file again.
    assert reader.rows("SELECT count(*) FROM t", ()) == [(2,)]
    reader.close()


async def test_a_busy_database_reads_through_the_waiting_path(tmp_path: Path) -> None:
    """The store's window read: declined by the reader, taken (and failed) by SQLAlchemy's."""
    path = tmp_path / "e.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    db = Database(url, busy_timeout=0.1)
    turns = TurnStore(db)
    scene = await SceneStore(db).start(guild_id=1, channel_id=2, format="chatml")
    await turns.append(scene.id, role="user", speaker="Rook", content="Still here.")
    await db.dispose()  # closes the reader and the pool; the next read opens both again
    # Another process holding the file exclusively: WAL readers must wait too.
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("SELECT count(*) FROM turns").fetchall()
    try:
        with pytest.raises(OperationalError, match="locked"):
            await turns.lines(scene.id, 10)
    finally:
        locker.execute("PRAGMA locking_mode=NORMAL")
        locker.execute("SELECT count(*) FROM turns").fetchall()  # gives the lock up
        locker.close()
    assert [line.content for line in await turns.lines(scene.id, 10)] == ["Still here."]
    await db.dispose()
