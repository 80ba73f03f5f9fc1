"""PostgreSQL specifics against the real test server: unreachable databases, dropped connections."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.store import Database, DatabaseUnreachable, SceneStore, StoreError, TurnStore
from bot.store.migrate import current_revision, downgrade, upgrade


async def _failures(url: str) -> list[str]:
    """The error message of each entry point that connects: migrate commands and ping."""
    messages = []
    for call in (upgrade, downgrade, current_revision):
        with pytest.raises(DatabaseUnreachable) as exc:
            await call(url)
        messages.append(str(exc.value))
    db = Database(url)
    try:
        with pytest.raises(DatabaseUnreachable) as exc:
            await db.ping()
        messages.append(str(exc.value))
    finally:
        await db.dispose()
    return messages


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def password_role(postgres_admin: asyncpg.Connection) -> AsyncIterator[tuple[str, str]]:
    """(name, password) of a login role the server checks the password of."""
    name = f"tk_role_{uuid.uuid4().hex[:12]}"
    password = f"right-{uuid.uuid4().hex}"
    await postgres_admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    try:
        yield name, password
    finally:
        await postgres_admin.execute(f"DROP ROLE IF EXISTS {name}")


async def test_server_down(postgres_url: str) -> None:
    port = _closed_port()
    url = make_url(postgres_url).set(port=port).render_as_string(hide_password=False)
    expected = f"cannot reach the database at 127.0.0.1:{port}/tavernkeep_test: connection refused"
    assert make_url(postgres_url).database == "tavernkeep_test"
    assert await _failures(url) == [expected] * 4


async def test_wrong_password(postgres_url: str, password_role: tuple[str, str]) -> None:
    name, password = password_role
    server = make_url(postgres_url)
    right = server.set(username=name, password=password).render_as_string(hide_password=False)
    assert await current_revision(right) is None  # control: the right password gets in

    wrong_password = f"wr@ng:{uuid.uuid4().hex}"  # URL-special characters, too
    wrong = server.set(username=name, password=wrong_password)
    messages = await _failures(wrong.render_as_string(hide_password=False))
    where = f"{server.host}:{server.port}/{server.database}"
    expected = (
        f'cannot reach the database at {where}: password authentication failed for user "{name}"'
    )
    assert messages == [expected] * 4
    for message in messages:
        assert wrong_password not in message and password not in message
        assert uuid.UUID(wrong_password.split(":")[1]).hex not in message


async def test_unknown_database(postgres_url: str) -> None:
    server = make_url(postgres_url)
    missing = f"tk_missing_{uuid.uuid4().hex[:8]}"
    url = server.set(database=missing).render_as_string(hide_password=False)
    where = f"{server.host}:{server.port}/{missing}"
    expected = f'cannot reach the database at {where}: database "{missing}" does not exist'
    assert await _failures(url) == [expected] * 4


async def test_unknown_database_is_a_store_error(postgres_url: str) -> None:
    """The CLI shows StoreError messages as one line instead of a traceback."""
    url = make_url(postgres_url).set(database="tk_missing").render_as_string(hide_password=False)
    with pytest.raises(StoreError):
        await upgrade(url)


async def test_pool_survives_server_side_disconnect(
    fresh_postgres_url: str, postgres_admin: asyncpg.Connection
) -> None:
    """Pooled connections killed by the server (e.g. a restart) do not fail the next turn."""
    await upgrade(fresh_postgres_url)
    db = Database(fresh_postgres_url)
    try:
        scene_id = (await SceneStore(db).start(guild_id=1, channel_id=1, format="chatml")).id
        turns = TurnStore(db)
        await turns.append(scene_id, role="user", speaker="A", content="before")
        killed = await postgres_admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            make_url(fresh_postgres_url).database,
        )
        assert killed >= 1  # the pooled connection really was cut
        after = await turns.append(scene_id, role="user", speaker="A", content="after")
        assert after.seq == 2
    finally:
        await db.dispose()
