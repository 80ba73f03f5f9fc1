"""Shared pytest fixtures: every database test runs on SQLite and on PostgreSQL; real servers."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.store import Database
from bot.store.migrate import upgrade

POSTGRES_URL_ENV = "TAVERNKEEP_TEST_POSTGRES_URL"
POSTGRES_DIR_ENV = "TAVERNKEEP_TEST_POSTGRES_DIR"
LLAMA_SERVER_URL_ENV = "TAVERNKEEP_TEST_LLAMA_SERVER_URL"
LLAMA_SERVER_DIR_ENV = "TAVERNKEEP_TEST_LLAMA_SERVER_DIR"
BACKENDS = ["sqlite", "postgresql"]
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
# Only against a script that hangs: PostgreSQL starts in seconds, llama-server in under 2 min.
SCRIPT_GUARD_SECONDS = 300
# Why a missing server's tests skip; the report hook folds each reason into one summary line.
SERVER_SKIPS: set[str] = set()


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/`script` with `args`, capturing its output."""
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCRIPT_GUARD_SECONDS,
    )


def require_server(server: str, script: str, env: str) -> None:
    """Skip, or fail in CI (which must test it), unless `script available` says it can start."""
    checked = run_script(script, "available")
    if checked.returncode == 0:
        return
    why = checked.stderr.strip().splitlines()[-1:] or [f"scripts/{script} available failed"]
    reason = f"{why[0].removeprefix(f'{script}: ')}, or set {env}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must test {server}, but {reason}")
    SERVER_SKIPS.add(reason)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report a missing server's skips from here, so `-ra` shows one line per server, not test."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple):
        message = report.longrepr[2]
        if message.removeprefix("Skipped: ") in SERVER_SKIPS:
            report.longrepr = (__file__, None, message)
    return report


BENCH_PROPERTY = "bench figures"  # what tests/bench/test_bench.py records of its run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The quick bench's headline figures, so a CI log shows what the run measured."""
    for report in terminalreporter.stats.get("passed", []):
        for name, line in getattr(report, "user_properties", ()):
            if name == BENCH_PROPERTY:
                terminalreporter.write_line(f"tavernkeep bench --quick: {line}")


def stop_when_we_die(script: str, folder: str) -> subprocess.Popen[bytes]:
    """A watchdog that runs `script stop folder` once this process is gone."""
    # Teardown does not run when pytest is killed, or interrupted inside an async test.
    watch = 'while kill -0 "$0" 2>/dev/null; do sleep 1; done; exec bash "$1" stop "$2"'
    return subprocess.Popen(
        ["bash", "-c", watch, str(os.getpid()), str(SCRIPTS / script), folder],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal must not stop it first
    )


@contextmanager
def started_server(script: str, dir_env: str, *args: str) -> Iterator[dict[str, str]]:
    """The variables `script start ARGS` exports; `script stop $dir_env` runs afterwards."""
    started = run_script(script, "start", *args)
    if started.returncode != 0:
        pytest.fail(f"scripts/{script} start failed:\n{started.stderr[-3000:]}")
    # Its stdout is `export NAME=VALUE` lines, meant for the shell's eval.
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in started.stdout.splitlines()
        if line.startswith("export ")
    )
    watchdog = stop_when_we_die(script, exported[dir_env])
    try:
        yield exported
    finally:
        run_script(script, "stop", exported[dir_env])
        watchdog.kill()
        watchdog.wait()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the PostgreSQL test server's default database (skipped without one, failed in CI)."""
    # A server the caller started wins; else a throwaway one, started on first use only.
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        yield url
        return
    require_server("PostgreSQL", "postgres.sh", POSTGRES_URL_ENV)
    with started_server("postgres.sh", POSTGRES_DIR_ENV) as exported:
        yield exported[POSTGRES_URL_ENV]


def asyncpg_dsn(url: str) -> str:
    """The plain libpq-style DSN asyncpg.connect() takes for a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """URL of a new, empty database on the test server, dropped afterwards."""
    name = f"tk_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            # FORCE: a test that failed half-way may still hold connections.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def postgres_admin(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser asyncpg connection to the test server."""
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        yield admin
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def fresh_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server (for PostgreSQL-only tests)."""
    async with fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def llama_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a llama-server on the demo model (skipped without one, failed in CI)."""
    # A server the caller started wins; else the cached binary (never a 15-minute build here),
    # started on first use only.
    url = os.environ.get(LLAMA_SERVER_URL_ENV)
    if url:
        yield url
        return
    require_server("llama-server", "llama_server.sh", LLAMA_SERVER_URL_ENV)
    folder = tmp_path_factory.mktemp("llama-server")  # its server.log stays for a failed test
    with started_server("llama_server.sh", LLAMA_SERVER_DIR_ENV, str(folder)) as exported:
        yield exported[LLAMA_SERVER_URL_ENV]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs llama-server, so `-m "not llama_server"` leaves them out."""
    for item in items:
        if "llama_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.llama_server)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses a database once per backend (real-model tests: SQLite only)."""
    if "db_url" not in metafunc.fixturenames:
        return
    # The model tests spend minutes in inference; the scripted round tests cover PostgreSQL.
    # `sqlite_only`: long runs where the database is not what is tested (the director's choice
    # over 200 rounds).
    marked = metafunc.definition.get_closest_marker
    backends = ["sqlite"] if marked("model") or marked("sqlite_only") else BACKENDS
    metafunc.parametrize("db_url", backends, indirect=True)


@pytest_asyncio.fixture
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """URL of a new, empty database: a SQLite file, or a fresh database on the test server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tavernkeep.db'}"
        return
    # Looked up only here, so a SQLite-only run never starts PostgreSQL.
    server_url = request.getfixturevalue("postgres_url")
    async with fresh_postgres_database(server_url) as url:
        yield url


@pytest.fixture
def backend(db_url: str) -> str:
    """``sqlite`` or ``postgresql``: the database the current test runs on."""
    return make_url(db_url).get_backend_name()


@pytest_asyncio.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A fresh database migrated to head with the real Alembic migrations."""
    await upgrade(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()
