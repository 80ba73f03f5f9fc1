"""SQLite specifics: pragmas, and a locked database that makes a writer wait, not fail."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from bot.lore import Lorebook
from bot.store import (
    CharacterStore,
    Database,
    DatabaseUnreachable,
    LoreStore,
    SceneStore,
    TurnStore,
)
from bot.store.migrate import current_revision, upgrade
from bot.store.sqlite_reader import ReaderBusy, SqliteReader

# How long the other writer keeps the lock: far below the store's 15 s busy timeout.
HOLD_SECONDS = 1.0


@pytest_asyncio.fixture
async def sqlite_path(tmp_path: Path) -> Path:
    """A migrated SQLite file."""
    path = tmp_path / "tavernkeep.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest_asyncio.fixture
async def sqlite_db(sqlite_path: Path) -> AsyncIterator[Database]:
    """The store's Database on the migrated file, with the default busy timeout."""
    database = Database(f"sqlite+aiosqlite:///{sqlite_path}")
    try:
        yield database
    finally:
        await database.dispose()


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process-like writer: a plain sqlite3 connection holding the write lock."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield holder
    finally:
        holder.close()  # also releases the lock if the test failed while holding it


def _assert_no_snapshot_held(path: Path) -> None:
    """A reader still holding its snapshot would keep a full checkpoint from emptying the WAL."""
    checkpointer = sqlite3.connect(path, timeout=0)
    try:
        busy, _, _ = checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        checkpointer.close()
    assert busy == 0


async def _scene_id(db: Database) -> int:
    return (await SceneStore(db).start(guild_id=1, channel_id=100, format="chatml")).id


async def test_pragmas(sqlite_db: Database) -> None:
    async with sqlite_db.session() as s:
        assert (await s.scalar(text("PRAGMA journal_mode"))) == "wal"
        assert (await s.scalar(text("PRAGMA foreign_keys"))) == 1
        assert (await s.scalar(text("PRAGMA busy_timeout"))) == 15_000


async def test_busy_timeout_is_configurable(sqlite_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{sqlite_path}", busy_timeout=2.5)
    try:
        async with db.session() as s:
            assert (await s.scalar(text("PRAGMA busy_timeout"))) == 2_500
    finally:
        await db.dispose()


async def test_append_waits_for_another_writer(sqlite_path: Path, sqlite_db: Database) -> None:
    scene_id = await _scene_id(sqlite_db)
    turns = TurnStore(sqlite_db)
    with write_lock(sqlite_path) as holder:
        append = asyncio.create_task(
            turns.append(scene_id, role="user", speaker="Ash", content="Still here?")
        )
        await asyncio.sleep(HOLD_SECONDS)
        assert not append.done()  # blocked behind the other writer, neither failed nor done
        holder.execute("COMMIT")
        turn = await append
    assert turn.seq == 1
    assert [t.content for t in await turns.window(scene_id, 10)] == ["Still here?"]


async def test_without_busy_timeout_the_lock_fails_the_append(sqlite_path: Path) -> None:
    """Control for the test above: the held lock is real, only the timeout makes it wait."""
    db = Database(f"sqlite+aiosqlite:///{sqlite_path}", busy_timeout=0)
    try:
        scene_id = await _scene_id(db)
        with write_lock(sqlite_path), pytest.raises(OperationalError, match="locked"):
            await TurnStore(db).append(scene_id, role="user", speaker="Ash", content="Lost")
    finally:
        await db.dispose()


async def test_history_reads_hold_no_snapshot(sqlite_path: Path, sqlite_db: Database) -> None:
    """The window reads run outside SQLAlchemy's transactions; none may stay open after them."""
    scene_id = await _scene_id(sqlite_db)
    turns = TurnStore(sqlite_db)
    for i in range(3):
        await turns.append(scene_id, role="user", speaker="Ash", content=f"t{i}")
    assert [t.content for t in await turns.lines(scene_id, 2)] == ["t1", "t2"]
    assert [t.seq for t in await turns.lines_after(scene_id, 1, 5)] == [2, 3]
    _assert_no_snapshot_held(sqlite_path)


async def test_unopenable_file_is_unreachable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with pytest.raises(DatabaseUnreachable) as exc:
        await upgrade(url)
    assert str(exc.value) == (
        f"cannot reach the database at {tmp_path}/missing-dir/x.db: unable to open database file"
    )
    with pytest.raises(DatabaseUnreachable, match="unable to open"):
        await current_revision(url)
    db = Database(url)
    try:
        with pytest.raises(DatabaseUnreachable, match="unable to open"):
            await db.ping()
    finally:
        await db.dispose()
    await _join_aiosqlite_threads()


async def _join_aiosqlite_threads() -> None:
    """Let aiosqlite's worker threads finish while the loop still runs."""
    # After a failed connect aiosqlite stops its thread without awaiting it; if the test's loop
    # closed first, the thread's last callback would hit a closed loop (a stray warning).
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 10)


async def test_scene_view_reads_skip_aiosqlite_and_hold_no_snapshot(
    sqlite_path: Path, sqlite_db: Database
) -> None:
    """The cast, the players and the scene's books come back as ORM rows from the plain reader
    connection (no statement through the engine), and leave no read snapshot open."""
    scenes, chars = SceneStore(sqlite_db), CharacterStore(sqlite_db)
    scene_id = await _scene_id(sqlite_db)
    npc = await chars.create(guild_id=1, kind="npc", name="Mira", sheet="s")
    ash = await chars.create(guild_id=1, kind="player", name="Ash", sheet="p", owner_id=7)
    await scenes.add_cast(scene_id, npc.id)
    await scenes.bind_player(scene_id, 7, ash.id)
    lore = LoreStore(sqlite_db)
    book = await lore.save_book(1, Lorebook(entries=()), name="Atlas")
    await lore.attach(scene_id, book.id)
    executed: list[str] = []

    def count(*args: object) -> None:
        executed.append(str(args[2]))

    event.listen(sqlite_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        cast = await scenes.cast_muted(scene_id)
        players = await scenes.player_presence(scene_id)
        books = await lore.scene_books(scene_id)
    finally:
        event.remove(sqlite_db.engine.sync_engine, "before_cursor_execute", count)
    assert executed == []
    assert [(c.name, muted) for c, muted in cast] == [("Mira", False)]
    assert [(user, c.name, here) for user, c, here in players] == [(7, "Ash", True)]
    assert [b.name for b in books] == ["Atlas"]
    _assert_no_snapshot_held(sqlite_path)


async def test_a_busy_reader_hands_the_read_to_the_engine(sqlite_path: Path) -> None:
    """Another thread, or a file SQLite says to wait for: the reader declines at once."""
    reader = SqliteReader(str(sqlite_path))
    try:
        assert reader.read(lambda s: s.scalar(text("SELECT 1"))) == 1
        with pytest.raises(ReaderBusy):
            await asyncio.to_thread(reader.read, lambda s: s.scalar(text("SELECT 1")))
        holder = sqlite3.connect(sqlite_path, isolation_level=None)
        try:
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(ReaderBusy):
                reader.read(lambda s: s.scalar(text("SELECT count(*) FROM scenes")))
        finally:
            holder.close()
        assert reader.read(lambda s: s.scalar(text("SELECT count(*) FROM scenes"))) == 0
    finally:
        reader.close()
