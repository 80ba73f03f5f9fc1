"""One bot per database: the lease `tavernkeep run` takes, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.errors import UserError
from bot.store import DatabaseLease
from bot.store.lease import LeaseHeld, LeaseLost
from tests.cli import clean_env
from tests.fake_discord import FakeDiscord

# A bound on every wait for another process; each takes a few seconds at most.
GUARD_SECONDS = 60.0
# Takes the lease, says so, and sleeps until killed (or, if the test dies, for two minutes).
HOLDER_SCRIPT = """
import asyncio, sys
from bot.store.lease import DatabaseLease

async def main() -> None:
    await DatabaseLease(sys.argv[1]).acquire()
    print("held", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""
HOST = socket.gethostname()


def refusal_of(pid: int) -> re.Pattern[str]:
    """The one line a refused start prints, naming the process `pid` on this host."""
    return re.compile(
        rf"another Tavernkeep \(pid {pid} on {re.escape(HOST)}, since (\d{{4}}-\d\d-\d\d )?"
        r"\d\d:\d\d\) is running on this database; stop it first\."
    )


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until `condition()` is true, failing with `what` after GUARD_SECONDS."""
    deadline = asyncio.get_running_loop().time() + GUARD_SECONDS
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def acquired_within(url: str, seconds: float = GUARD_SECONDS) -> DatabaseLease:
    """The lease, once a holder that was just killed has let go (PostgreSQL notices at once,
    but on its own time)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        lease = DatabaseLease(url)
        try:
            await lease.acquire()
            return lease
        except LeaseHeld:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.02)


@asynccontextmanager
async def holder_process(url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process holding the lease on `url` (killed afterwards, if still running)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER_SCRIPT,
        url,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), GUARD_SECONDS)
        assert line == b"held\n", (await proc.stderr.read()).decode()
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def lock_file(url: str) -> Path:
    """The SQLite lease's lock file."""
    database = Path(str(make_url(url).database)).resolve()
    return database.with_name(database.name + ".lock")


async def cut(url: str) -> None:
    """Take the lock from under the lease: delete its lock file, or end its connection."""
    if make_url(url).get_backend_name() == "sqlite":
        lock_file(url).unlink()
        return
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        # With a timeout, pg_terminate_backend waits until the connection is really gone.
        ended = await admin.fetchval(
            "SELECT bool_and(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'tavernkeep %'"
        )
    finally:
        await admin.close()
    assert ended, "no lease connection to end"


async def test_a_release_while_the_heartbeat_is_mid_query_lets_the_lease_go(
    fresh_postgres_url: str,
) -> None:
    """Stopping the heartbeat cancels its query, which leaves the lease's connection unusable:
    the release still ends the lock (it dies with its session) and raises nothing."""
    lease = DatabaseLease(fresh_postgres_url, heartbeat_seconds=3600)
    await lease.acquire()
    connection = lease._lock._conn  # type: ignore[union-attr]  # the lease's own session
    assert connection is not None
    beat = asyncio.create_task(connection.execute(text("SELECT pg_sleep(5)")))
    await asyncio.sleep(0.3)
    beat.cancel()
    with suppress(asyncio.CancelledError):
        await beat
    await lease.release()
    again = DatabaseLease(fresh_postgres_url)
    await again.acquire()  # the lock is free
    await again.release()


async def test_a_second_lease_is_refused_naming_the_holder(db_url: str) -> None:
    first = DatabaseLease(db_url)
    await first.acquire()
    second = DatabaseLease(db_url)
    try:
        with pytest.raises(LeaseHeld) as refused:
            await second.acquire()
        assert isinstance(refused.value, UserError)  # the CLI prints it as one line, exit 2
        assert refusal_of(os.getpid()).fullmatch(str(refused.value)), str(refused.value)
        assert not second.held
        holder = await second.holder()
        assert holder is not None and (holder.host, holder.pid) == (HOST, os.getpid())
    finally:
        await first.release()
    assert await second.holder() is None
    await second.acquire()  # granted once the first let go
    try:
        assert second.held
        with pytest.raises(LeaseHeld):
            await DatabaseLease(db_url).acquire()
    finally:
        await second.release()


async def test_a_holder_killed_with_sigkill_frees_the_lease(db_url: str) -> None:
    async with holder_process(db_url) as holder:
        with pytest.raises(LeaseHeld) as refused:
            await DatabaseLease(db_url).acquire()
        assert refusal_of(holder.pid).fullmatch(str(refused.value)), str(refused.value)
        holder.kill()  # SIGKILL: no finally, no atexit; only the lock's dying frees it
        await asyncio.wait_for(holder.wait(), GUARD_SECONDS)
        assert holder.returncode == -signal.SIGKILL
    lease = await acquired_within(db_url)
    assert lease.held
    await lease.release()


async def test_the_heartbeat_takes_a_cut_lease_again(db_url: str) -> None:
    """A deleted lock file, or a lease connection the server ended: the lease is taken again."""
    lease = DatabaseLease(db_url, heartbeat_seconds=0.05)
    await lease.acquire()
    try:
        await cut(db_url)

        async def named_again() -> bool:
            holder = await DatabaseLease(db_url).holder()
            return holder is not None and holder.pid == os.getpid()

        await until(named_again, "the heartbeat did not take the lease again")
        assert lease.held and not lease.lost
        with pytest.raises(LeaseHeld):
            await DatabaseLease(db_url).acquire()
    finally:
        await lease.release()


async def test_a_lease_taken_over_meanwhile_stops_the_work_it_guards(db_url: str) -> None:
    """Cut, then taken by another process before the next heartbeat: the bot must stop."""
    lease = DatabaseLease(db_url, heartbeat_seconds=3600)  # beats by hand: `renew`
    await lease.acquire()
    stopped = asyncio.Event()

    async def bot() -> int:
        try:
            await asyncio.sleep(GUARD_SECONDS)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return 0

    guarded = asyncio.create_task(lease.while_held(bot()))
    try:
        await cut(db_url)
        async with holder_process(db_url) as other:
            await lease.renew()
            assert lease.lost and not lease.held
            with pytest.raises(LeaseLost) as lost:
                await asyncio.wait_for(guarded, GUARD_SECONDS)
            assert stopped.is_set()
            assert f"pid {other.pid} on {HOST}" in str(lost.value)
            assert isinstance(lost.value, UserError)
            await lease.release()  # lets go of nothing: the other process keeps the lease
            with pytest.raises(LeaseHeld) as refused:
                await DatabaseLease(db_url).acquire()
            assert refusal_of(other.pid).fullmatch(str(refused.value))
    finally:
        guarded.cancel()
        with suppress(BaseException):
            await guarded
        await lease.release()


def test_an_in_memory_database_needs_no_lease() -> None:
    assert not DatabaseLease("sqlite+aiosqlite:///:memory:").needed


# --------------------------------------------------------------------- `tavernkeep run`, twice


def run_env(fake: FakeDiscord, db_url: str) -> dict[str, str]:
    """The environment of a `tavernkeep run` against `fake`, none of this shell's settings."""
    return clean_env(
        DISCORD_TOKEN="fake-token",
        DATABASE_URL=db_url,
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DEV_GUILD_ID=str(fake.guild_id),
        N_CTX="2048",
        KV_CACHE_MB="64",
    )


async def start_run(
    env: dict[str, str], cwd: Path, log: Path | None = None
) -> asyncio.subprocess.Process:
    """`tavernkeep run` in a process of its own; its output goes to `log`, or to pipes."""
    output = log.open("wb") if log is not None else None
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=cwd,  # no .env there
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output or asyncio.subprocess.PIPE,
            stderr=output or asyncio.subprocess.PIPE,
        )
    finally:
        if output is not None:
            output.close()


async def connected(fake: FakeDiscord, proc: asyncio.subprocess.Process, log: Path, n: int) -> None:
    """Wait until the fake saw its `n`-th IDENTIFY; fail at once if `proc` ends first."""

    async def identified() -> bool:
        assert proc.returncode is None, f"tavernkeep run ended:\n{log.read_text()[-3000:]}"
        return identifies(fake) >= n

    await until(identified, f"tavernkeep run did not connect:\n{log.read_text()[-3000:]}")


def identifies(fake: FakeDiscord) -> int:
    """How many times a bot identified on the fake's gateway."""
    return sum(1 for frame in fake.gateway_received if frame.get("op") == 2)


async def ended(proc: asyncio.subprocess.Process) -> int:
    """Its exit status, waited for (boundedly)."""
    return await asyncio.wait_for(proc.wait(), GUARD_SECONDS)


async def test_a_second_tavernkeep_run_on_the_database_exits_2(db_url: str, tmp_path: Path) -> None:
    """Two real `tavernkeep run`s on one database: the second refuses before reaching Discord."""
    fake = FakeDiscord()
    logins: list[str] = []

    async def count_login(request: web.Request) -> None:
        logins.append(request.path)

    fake.intercept("GET", r"/users/@me", count_login)  # every login starts with it
    await fake.start()
    env = run_env(fake, db_url)
    started: list[asyncio.subprocess.Process] = []
    try:
        first = await start_run(env, tmp_path, tmp_path / "first.log")
        started.append(first)
        await connected(fake, first, tmp_path / "first.log", 1)

        second = await start_run(env, tmp_path)
        started.append(second)
        answered = asyncio.create_task(second.communicate())

        async def exited_or_connected() -> bool:
            return answered.done() or len(logins) > 1

        await until(exited_or_connected, "the second run neither ended nor reached Discord")
        assert len(logins) == 1, "the second run reached Discord: two bots on one database"
        out, err = await answered
        assert second.returncode == 2, err.decode()
        lines = err.decode().splitlines()
        assert len(lines) == 1, err.decode()
        assert lines[0].startswith("tavernkeep: ")
        assert refusal_of(first.pid).fullmatch(lines[0].removeprefix("tavernkeep: ")), lines[0]
        assert out == b""
        assert (len(logins), identifies(fake)) == (1, 1)  # the second never reached Discord

        first.kill()  # SIGKILL, as an overlapping restart by a service manager would end it
        assert await ended(first) == -signal.SIGKILL
        third = await start_run(env, tmp_path, tmp_path / "third.log")
        started.append(third)
        await connected(fake, third, tmp_path / "third.log", 2)
        assert len(logins) == 2

        third.send_signal(signal.SIGTERM)  # a clean stop lets the lease go at once
        assert await ended(third) == 0, (tmp_path / "third.log").read_text()[-3000:]
        lease = DatabaseLease(db_url)
        await lease.acquire()
        await lease.release()
    finally:
        for proc in started:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await fake.stop()
