"""The round's writes on a SQLite file: one trip to the writer's thread, nothing lost beside it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sqlalchemy import event, select

from bot.store import CharacterStore, Database, SceneStore, TurnStore
from bot.store.migrate import upgrade
from bot.store.models import TurnWitness

CHANNEL = 77


async def _scene(db: Database) -> int:
    """A scene with one NPC in its cast, so every post has a witness to record."""
    scenes = SceneStore(db)
    scene = await scenes.start(guild_id=1, channel_id=CHANNEL, format="chatml")
    npc = await CharacterStore(db).create(guild_id=1, kind="npc", name="Mira", sheet="s")
    await scenes.add_cast(scene.id, npc.id)
    return scene.id


def _statements(db: Database) -> tuple[list[tuple[str, str]], Any]:
    """Every statement the database's engines run, with the thread that ran it, and a remover."""
    seen: list[tuple[str, str]] = []

    def record(*args: Any) -> None:
        seen.append((threading.current_thread().name, str(args[2]).split()[0].upper()))

    engines = db.sync_engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)

    def remove() -> None:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)

    return seen, remove


async def test_a_stored_turn_is_one_trip_to_the_writer_thread(tmp_path: Any) -> None:
    """The insert, its witnesses and the commit all run on the writer's own thread, and the
    turn is read back whole by the engine's connections and the plain reader alike."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    await upgrade(url)
    db = Database(url)
    try:
        scene_id = await _scene(db)
        turns = TurnStore(db)
        seen, remove = _statements(db)
        try:
            turn = await turns.append(scene_id, role="user", speaker="Ana", content="hello")
        finally:
            remove()
        assert {thread for thread, _ in seen} == {"sqlite-writer_0"}
        assert [verb for _, verb in seen] == ["INSERT", "INSERT"]  # the turn, its witnesses
        assert (turn.seq, turn.content, turn.messages) == (1, "hello", [])
        assert [line.content for line in await turns.lines(scene_id, 5)] == ["hello"]
        assert (await turns.get(turn.id)).swipes == ["hello"]
        async with db.session() as s:
            witnesses = (await s.execute(select(TurnWitness.turn_id))).all()
        assert [tuple(row) for row in witnesses] == [(turn.id,)]  # Mira saw it
    finally:
        await db.dispose()


async def test_writer_and_engine_writes_take_turns(db: Database) -> None:
    """Appends (the writer on SQLite) and other writes (the engine) at the same time: no
    'database is locked', no gap, every write kept; and writes go on after a dispose."""
    scene_id = await _scene(db)
    turns, scenes = TurnStore(db), SceneStore(db)

    async def append(i: int) -> int:
        return (await turns.append(scene_id, role="user", speaker="A", content=str(i))).seq

    async def other(i: int) -> None:
        await scenes.start(guild_id=1, channel_id=1000 + i, format="chatml")

    done = await asyncio.gather(*(append(i) for i in range(30)), *(other(i) for i in range(10)))
    assert sorted(seq for seq in done if seq is not None) == list(range(1, 31))
    assert len(await scenes.active_in([1])) == 11
    await db.dispose()
    assert (await turns.append(scene_id, role="user", speaker="A", content="again")).seq == 31
