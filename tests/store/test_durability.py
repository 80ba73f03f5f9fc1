"""A bot killed with SIGKILL loses no turn it posted (SQLite file, WAL, synchronous=FULL).

The bot runs in a subprocess over a SQLite file: a player's post comes in, one round runs with
the scripted engine and posts the NPC turn. The test kills it (SIGKILL: no clean close, no
checkpoint) at two moments, then opens the file again: right after the NPC's post went out
(the turn must be stored, still pending, with its message id, so the next start can take it
down) and right after the round (both turns in the history).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.store import Database, Stores
from tests.channel.helpers import CHANNEL

REPO = Path(__file__).resolve().parents[2]
FIRST_MESSAGE_ID = 5001  # RecordingPoster's first id

CHILD = textwrap.dedent(
    """
    import asyncio, sys

    from bot.channel.ports import IncomingMessage
    from bot.store import Database, Stores
    from bot.store.migrate import upgrade
    from tests.channel.helpers import CHANNEL, GUILD, RecordingPoster, build
    from tests.scripted_engine import ScriptedEngine

    url, stop_at = sys.argv[1], sys.argv[2]

    def tell(line):
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    class Poster(RecordingPoster):
        async def post_turn(self, channel_id, speaker, avatar_url, text, on_part):
            ids = await super().post_turn(channel_id, speaker, avatar_url, text, on_part)
            if stop_at == "posted":  # the post is out: wait here for the kill
                tell(f"posted {ids[0]}")
                await asyncio.Event().wait()
            return ids

    async def main():
        await upgrade(url)
        db = Database(url)
        stores = Stores.over(db)
        npc = await stores.characters.create(
            guild_id=GUILD, kind="npc", name="Marta", sheet="Marta keeps the harbor."
        )
        scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
        await stores.scenes.add_cast(scene.id, npc.id)
        engine = ScriptedEngine(texts=["The fog is early tonight."], floors=["user"] * 3)
        services = build(db, engine=engine, poster=Poster()).services
        message = IncomingMessage(
            message_id=1, channel_id=CHANNEL, guild_id=GUILD, author_id=200,
            author_name="Alice", content="Hello Marta.", author_is_bot=False,
        )
        await services.play.on_message(message)
        await services.sessions.wait_idle(chores=False)
        tell("round done")
        await asyncio.Event().wait()  # the bot goes on running until it is killed

    asyncio.run(main())
    """
)


def _run_and_kill(url: str, stop_at: str) -> str:
    """Start the bot's round in a subprocess, SIGKILL it at `stop_at`; the line it said last."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, stop_at],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()  # blocks until the child says where it is
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    return line


@pytest.mark.parametrize("stop_at", ["posted", "round done"])
async def test_a_killed_bot_keeps_every_turn_it_posted(tmp_path: Path, stop_at: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    said = _run_and_kill(url, stop_at.split()[0])
    assert said.startswith(stop_at), said

    db = Database(url)  # a fresh open: replays the WAL left by the killed process
    try:
        stores = Stores.over(db)
        scene = await stores.scenes.by_channel(CHANNEL)
        assert scene is not None
        player = await stores.turns.by_message_id(1)
        assert player is not None and player.content == "Hello Marta."
        npc = await stores.turns.by_message_id(FIRST_MESSAGE_ID)
        assert npc is not None and npc.content == "The fog is early tonight."
        lines = [(t.speaker, t.content) for t in await stores.turns.lines(scene.id, 10)]
        if stop_at == "posted":
            # Posted but not yet marked so: the next start takes it down (message included).
            assert npc.pending and [t.id for t in await stores.turns.pending()] == [npc.id]
            assert lines == [("Alice", "Hello Marta.")]
        else:
            assert not npc.pending
            assert lines == [("Alice", "Hello Marta."), ("Marta", "The fog is early tonight.")]
    finally:
        await db.dispose()
