"""Shared pytest fixtures: every database test runs on SQLite and on PostgreSQL; real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.store import Database
from bot.store.migrate import upgrade

POSTGRES_URL_ENV = "TAVERNKEEP_TEST_POSTGRES_URL"
LLAMA_SERVER_URL_ENV = "TAVERNKEEP_TEST_LLAMA_SERVER_URL"
BACKENDS = ["sqlite", "postgresql"]


def server_url_from_env(env: str, server: str, start: str) -> str:
    """A test server's URL from `env`; skips without one, but fails in CI, which must test it."""
    url = os.environ.get(env)
    if url:
        return url
    reason = f"{env} is not set; start a server with: {start}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must test {server}, but {reason}")
    pytest.skip(reason)


def postgres_server_url() -> str:
    """The PostgreSQL test server's URL (skipped without one, failed in CI)."""
    return server_url_from_env(
        POSTGRES_URL_ENV, "PostgreSQL", 'eval "$(scripts/postgres.sh start)"'
    )


def asyncpg_dsn(url: str) -> str:
    """The plain libpq-style DSN asyncpg.connect() takes for a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> str:
    """URL of the PostgreSQL test server's default database."""
    return postgres_server_url()


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
def llama_server_url() -> str:
    """Base URL of the llama-server on the demo model (skipped without one, failed in CI)."""
    return server_url_from_env(
        LLAMA_SERVER_URL_ENV,
        "llama-server",
        'eval "$(scripts/llama_server.sh start "$(mktemp -d)")"',
    )


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
    backends = ["sqlite"] if metafunc.definition.get_closest_marker("model") else BACKENDS
    metafunc.parametrize("db_url", backends, indirect=True)


@pytest_asyncio.fixture
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """URL of a new, empty database: a SQLite file, or a fresh database on the test server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tavernkeep.db'}"
        return
    async with fresh_postgres_database(postgres_server_url()) as url:
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
