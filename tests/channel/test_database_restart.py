"""PostgreSQL restarted mid-evening: posts made while it is down are stored once it is back.

A throwaway server of this test's own (the session's shared one is never restarted), stopped
and started again on the same port and data directory.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.channel.health import BACK_NOTICE, DOWN_NOTICE
from bot.channel.ports import IncomingMessage
from bot.channel.recovery import snowflake_at
from bot.store import Database, upgrade
from tests.channel.helpers import ALICE, BOB, CHANNEL, GUILD, build, marta_scene, within_guard
from tests.conftest import (
    POSTGRES_DIR_ENV,
    POSTGRES_URL_ENV,
    SCRIPT_GUARD_SECONDS,
    require_server,
    run_script,
    started_server,
)

SECOND_ID = 1 << 22  # one millisecond apart in Discord ids


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server of this test's own: its URL, data folder and binaries."""

    url: str
    folder: Path
    bin_dir: Path

    def _pg_ctl(self, *args: str) -> None:
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-w", *args]
        if os.getuid() == 0:  # the cluster belongs to `postgres` (initdb refuses root)
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=SCRIPT_GUARD_SECONDS)

    async def stop(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-m", "fast", "stop")

    async def start(self) -> None:
        """Start it again as scripts/postgres.sh did: same port, same socket folder."""
        port = make_url(self.url).port
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {self.folder} -c fsync=off"
        log = str(self.folder / "server.log")
        await asyncio.to_thread(self._pg_ctl, "-l", log, "-t", "60", "start", "-o", options)


@pytest.fixture
def server() -> Iterator[Server]:
    require_server("PostgreSQL", "postgres.sh", POSTGRES_URL_ENV)
    bin_dir = Path(run_script("postgres.sh", "available").stdout.strip())
    with started_server("postgres.sh", POSTGRES_DIR_ENV) as exported:
        yield Server(exported[POSTGRES_URL_ENV], Path(exported[POSTGRES_DIR_ENV]), bin_dir)


@pytest_asyncio.fixture
async def db(server: Server) -> AsyncIterator[Database]:
    await upgrade(server.url)
    database = Database(server.url)
    try:
        yield database
    finally:
        await database.dispose()


def _message(mid: int, text: str, author: int = ALICE) -> IncomingMessage:
    return IncomingMessage(mid, CHANNEL, GUILD, author, {ALICE: "Alice", BOB: "Bob"}[author], text)


async def test_posts_made_while_postgresql_restarts_are_stored_in_order_when_it_is_back(
    server: Server, db: Database
) -> None:
    tavern = build(db)
    scene_id = await marta_scene(tavern)
    play, sessions, gate = tavern.services.play, tavern.services.sessions, tavern.services.deps.gate
    play.retry_delays, gate.interval = (0.0, 0.0), 0.05
    base = snowflake_at(datetime.now(UTC) + timedelta(seconds=1))
    evening, *during = (
        _message(base, "Evening, Marta."),
        _message(base + SECOND_ID, "Who put out the lamps?"),
        _message(base + 2 * SECOND_ID, "I check the lamp oil.", BOB),
    )
    tavern.poster.channel_history[CHANNEL] = [evening, *during]
    await play.on_message(evening)
    await within_guard(sessions.wait_idle())

    await server.stop()
    for message in during:
        await play.on_message(message)
    await within_guard(sessions.wait_idle())
    assert tavern.poster.unsaved == [m.message_id for m in during]
    assert tavern.poster.notices == [DOWN_NOTICE]
    assert gate.down

    await server.start()
    await within_guard(gate.settled.wait())
    await within_guard(sessions.wait_idle())
    history = [t.content for t in await tavern.stores.turns.window(scene_id, 20)]
    assert history == [evening.content, "Reply 0.", *(m.content for m in during), "Reply 1."]
    assert tavern.poster.unmarked == [m.message_id for m in during]
    assert tavern.poster.unsaved == []
    assert tavern.poster.notices == [DOWN_NOTICE, BACK_NOTICE]
