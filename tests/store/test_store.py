"""Store classes against real, migrated databases: a SQLite file and a PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import bindparam, column, event, select, table, text
from sqlalchemy.exc import DBAPIError

from bot.store import (
    CharacterStore,
    Database,
    DuplicateNameError,
    NotFoundError,
    SceneStore,
    StoreError,
    Turn,
    TurnStore,
)

GUILD = 1
CHANNEL = 100


@pytest.fixture
def chars(db: Database) -> CharacterStore:
    return CharacterStore(db)


@pytest.fixture
def scenes(db: Database) -> SceneStore:
    return SceneStore(db)


@pytest.fixture
def turns(db: Database) -> TurnStore:
    return TurnStore(db)


async def _scene_id(scenes: SceneStore, channel_id: int = CHANNEL) -> int:
    return (await scenes.start(guild_id=GUILD, channel_id=channel_id, format="chatml")).id


# --- database ---------------------------------------------------------------------------------


async def test_ping(db: Database) -> None:
    await db.ping()


# --- characters -------------------------------------------------------------------------------


async def test_character_crud(chars: CharacterStore) -> None:
    card = {"spec": "chara_card_v2", "data": {"name": "Old Tom", "extensions": {"x": [1, 2]}}}
    npc = await chars.create(
        guild_id=GUILD,
        kind="npc",
        name="  Old   Tom ",
        sheet="A grumpy innkeeper.",
        avatar_url="https://example.com/tom.png",
        greeting="What'll it be?",
        card_json=card,
        owner_id=42,
    )
    assert npc.id > 0 and npc.name == "Old Tom" and npc.owner_id is None
    assert npc.created_at.tzinfo is not None and npc.created_at.utcoffset() == UTC.utcoffset(None)

    got = await chars.get(npc.id)
    assert (got.name, got.sheet, got.greeting, got.card_json) == (
        "Old Tom",
        "A grumpy innkeeper.",
        "What'll it be?",
        card,
    )
    assert got.updated_at.tzinfo is not None

    updated = await chars.update(npc.id, name="Tom the Elder", sheet="Older now.", greeting=None)
    assert (updated.name, updated.sheet, updated.greeting) == ("Tom the Elder", "Older now.", None)
    assert updated.updated_at >= updated.created_at
    assert (await chars.find_npc(GUILD, "tom THE elder")).id == npc.id
    assert await chars.find_npc(GUILD, "Old Tom") is None

    await chars.delete(npc.id)
    with pytest.raises(NotFoundError):
        await chars.get(npc.id)
    with pytest.raises(NotFoundError):
        await chars.delete(npc.id)
    with pytest.raises(NotFoundError):
        await chars.update(npc.id, sheet="x")


async def test_update_rejects_unknown_fields(chars: CharacterStore) -> None:
    npc = await chars.create(guild_id=GUILD, kind="npc", name="Mira", sheet="s")
    with pytest.raises(TypeError):
        await chars.update(npc.id, kind="player")


async def test_npc_names_unique_case_insensitive(chars: CharacterStore) -> None:
    await chars.create(guild_id=GUILD, kind="npc", name="Mira", sheet="s")
    with pytest.raises(DuplicateNameError) as exc:
        await chars.create(guild_id=GUILD, kind="npc", name="MIRA", sheet="s")
    assert "Mira" in str(exc.value) or "MIRA" in str(exc.value)
    # other guilds and player characters do not clash
    await chars.create(guild_id=GUILD + 1, kind="npc", name="mira", sheet="s")
    await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="Mira", sheet="s")


async def test_player_names_unique_per_owner(chars: CharacterStore) -> None:
    a = await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="Ash", sheet="s")
    b = await chars.create(guild_id=GUILD, kind="player", owner_id=8, name="Ash", sheet="s")
    assert a.id != b.id
    with pytest.raises(DuplicateNameError):
        await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="ash", sheet="s")
    assert (await chars.find_player_character(GUILD, 8, "ASH")).id == b.id
    assert await chars.find_player_character(GUILD, 9, "Ash") is None


async def test_rename_duplicate_refused(chars: CharacterStore) -> None:
    await chars.create(guild_id=GUILD, kind="npc", name="Mira", sheet="s")
    bran = await chars.create(guild_id=GUILD, kind="npc", name="Bran", sheet="s")
    with pytest.raises(DuplicateNameError):
        await chars.update(bran.id, name="mira")
    assert (await chars.update(bran.id, name="BRAN")).name == "BRAN"  # own name, new casing


async def test_concurrent_duplicate_creates(chars: CharacterStore) -> None:
    results = await asyncio.gather(
        *(chars.create(guild_id=GUILD, kind="npc", name="Twin", sheet="s") for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, DuplicateNameError) for r in results if isinstance(r, BaseException))


async def test_bad_names(chars: CharacterStore) -> None:
    with pytest.raises(StoreError):
        await chars.create(guild_id=GUILD, kind="npc", name="   ", sheet="s")
    with pytest.raises(StoreError):
        await chars.create(guild_id=GUILD, kind="npc", name="x" * 81, sheet="s")
    with pytest.raises(ValueError):
        await chars.create(guild_id=GUILD, kind="player", name="Nobody", sheet="s")


async def test_name_that_casefolds_longer(chars: CharacterStore) -> None:
    """A legal 80-character name whose key is longer ("ß" -> "ss") fits on every backend."""
    npc = await chars.create(guild_id=GUILD, kind="npc", name="ß" * 80, sheet="s")
    assert (await chars.find_npc(GUILD, "SS" * 80)).id == npc.id
    with pytest.raises(DuplicateNameError):
        await chars.create(guild_id=GUILD, kind="npc", name="ẞ" * 80, sheet="s")  # capital ß


async def test_lists_and_names(chars: CharacterStore) -> None:
    for name in ("zed", "Alice", "Malik", "alfred", "Sal_ly"):
        await chars.create(guild_id=GUILD, kind="npc", name=name, sheet="s")
    await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="Alma", sheet="s")
    await chars.create(guild_id=GUILD, kind="player", owner_id=8, name="Bex", sheet="s")

    assert [c.name for c in await chars.list_npcs(GUILD)] == [
        "alfred",
        "Alice",
        "Malik",
        "Sal_ly",
        "zed",
    ]
    assert [c.name for c in await chars.list_player_characters(GUILD)] == ["Alma", "Bex"]
    assert [c.name for c in await chars.list_player_characters(GUILD, 8)] == ["Bex"]

    assert await chars.names(GUILD, "npc", prefix="AL") == ["alfred", "Alice", "Malik", "Sal_ly"]
    assert await chars.names(GUILD, "npc", prefix="al", limit=2) == ["alfred", "Alice"]
    assert await chars.names(GUILD, "npc", prefix="_") == ["Sal_ly"]  # LIKE wildcards escaped
    assert await chars.names(GUILD, "npc") == ["alfred", "Alice", "Malik", "Sal_ly", "zed"]
    assert await chars.names(GUILD, "player", owner_id=7) == ["Alma"]
    assert await chars.names(GUILD, "player") == ["Alma", "Bex"]


# --- scenes -----------------------------------------------------------------------------------


async def test_scene_lifecycle(scenes: SceneStore, chars: CharacterStore, turns: TurnStore) -> None:
    scene = await scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="group-inst")
    assert scene.active and scene.reply_mode == "auto" and scene.max_replies == 3
    assert scene.created_at.tzinfo is not None
    assert (await scenes.by_channel(CHANNEL)).id == scene.id
    assert (await scenes.get(scene.id)).format == "group-inst"

    npc = await chars.create(guild_id=GUILD, kind="npc", name="Mira", sheet="s")
    assert await scenes.add_cast(scene.id, npc.id)
    await turns.append(scene.id, role="user", speaker="Ash", content="Hello")

    ended = await scenes.end(CHANNEL)
    assert not ended.active
    assert await scenes.by_channel(CHANNEL) is None
    assert (await scenes.by_channel(CHANNEL, active_only=False)).id == scene.id
    with pytest.raises(NotFoundError):
        await scenes.end(CHANNEL)

    again = await scenes.start(
        guild_id=GUILD, channel_id=CHANNEL, format="chatml", reply_mode="manual"
    )
    assert again.id == scene.id and again.active
    assert (again.format, again.reply_mode) == ("chatml", "manual")
    assert [c.id for c in await scenes.cast(scene.id)] == [npc.id]
    assert await turns.count(scene.id) == 1


async def test_scene_update(scenes: SceneStore) -> None:
    scene_id = await _scene_id(scenes)
    scene = await scenes.update(
        scene_id,
        scenario="A storm.",
        length="short",
        reply_mode="mention",
        max_replies=1,
        temperature=0.7,
        min_p=0.1,
    )
    assert (scene.scenario, scene.length, scene.reply_mode, scene.max_replies) == (
        "A storm.",
        "short",
        "mention",
        1,
    )
    again = await scenes.get(scene_id)
    assert (again.temperature, again.min_p) == (0.7, 0.1)
    with pytest.raises(TypeError):
        await scenes.update(scene_id, channel_id=5)
    with pytest.raises(NotFoundError):
        await scenes.update(9999, scenario="x")
    with pytest.raises(NotFoundError):
        await scenes.get(9999)


async def test_concurrent_starts_make_one_scene(scenes: SceneStore) -> None:
    started = await asyncio.gather(
        *(scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml") for _ in range(5))
    )
    assert len({s.id for s in started}) == 1


async def test_cast(scenes: SceneStore, chars: CharacterStore) -> None:
    scene_id = await _scene_id(scenes)
    npcs = [
        await chars.create(guild_id=GUILD, kind="npc", name=n, sheet="s") for n in ("Zed", "Ann")
    ]
    for npc in npcs:
        assert await scenes.add_cast(scene_id, npc.id)
    assert not await scenes.add_cast(scene_id, npcs[0].id)
    assert [c.name for c in await scenes.cast(scene_id)] == ["Zed", "Ann"]  # order added

    assert await scenes.remove_cast(scene_id, npcs[0].id)
    assert not await scenes.remove_cast(scene_id, npcs[0].id)
    assert [c.name for c in await scenes.cast(scene_id)] == ["Ann"]

    player = await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="P", sheet="s")
    with pytest.raises(StoreError):
        await scenes.add_cast(scene_id, player.id)
    foreign = await chars.create(guild_id=GUILD + 1, kind="npc", name="F", sheet="s")
    with pytest.raises(StoreError):
        await scenes.add_cast(scene_id, foreign.id)
    with pytest.raises(NotFoundError):
        await scenes.add_cast(scene_id, 9999)


async def test_bindings_and_defaults(scenes: SceneStore, chars: CharacterStore) -> None:
    scene_id = await _scene_id(scenes)
    ash = await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="Ash", sheet="s")
    bex = await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="Bex", sheet="s")
    cy = await chars.create(guild_id=GUILD, kind="player", owner_id=8, name="Cy", sheet="s")

    assert await scenes.bound_character(scene_id, 7) is None
    await scenes.bind_player(scene_id, 7, ash.id)
    await scenes.bind_player(scene_id, 8, cy.id)
    assert (await scenes.bound_character(scene_id, 7)).name == "Ash"
    await scenes.bind_player(scene_id, 7, bex.id)  # rebinding replaces
    assert (await scenes.bound_character(scene_id, 7)).name == "Bex"
    assert [(u, c.name) for u, c in await scenes.players(scene_id)] == [(7, "Bex"), (8, "Cy")]

    assert await scenes.default_character(GUILD, 7) is None
    await scenes.set_default_character(GUILD, 7, ash.id)
    assert (await scenes.default_character(GUILD, 7)).name == "Ash"
    await scenes.set_default_character(GUILD, 7, bex.id)
    assert (await scenes.default_character(GUILD, 7)).name == "Bex"
    assert await scenes.default_character(GUILD + 1, 7) is None


async def test_gm_role(scenes: SceneStore) -> None:
    assert await scenes.gm_role(GUILD) is None
    await scenes.set_gm_role(GUILD, 555)
    assert await scenes.gm_role(GUILD) == 555
    await scenes.set_gm_role(GUILD, 666)
    assert await scenes.gm_role(GUILD) == 666
    await scenes.set_gm_role(GUILD, None)
    assert await scenes.gm_role(GUILD) is None


async def test_character_delete_cascades(
    scenes: SceneStore, chars: CharacterStore, turns: TurnStore
) -> None:
    scene_id = await _scene_id(scenes)
    npc = await chars.create(guild_id=GUILD, kind="npc", name="Mira", sheet="s")
    pc = await chars.create(guild_id=GUILD, kind="player", owner_id=7, name="Ash", sheet="s")
    await scenes.add_cast(scene_id, npc.id)
    await scenes.bind_player(scene_id, 7, pc.id)
    await scenes.set_default_character(GUILD, 7, pc.id)
    said = await turns.append(
        scene_id, role="model", speaker="Mira", content="Hi", character_id=npc.id
    )

    await chars.delete(npc.id)
    await chars.delete(pc.id)
    assert await scenes.cast(scene_id) == []
    assert await scenes.bound_character(scene_id, 7) is None
    assert await scenes.players(scene_id) == []
    assert await scenes.default_character(GUILD, 7) is None
    kept = await turns.get(said.id)
    assert kept.character_id is None and kept.speaker == "Mira" and kept.content == "Hi"


# --- turns ------------------------------------------------------------------------------------


async def test_turn_fields(scenes: SceneStore, turns: TurnStore) -> None:
    scene_id = await _scene_id(scenes)
    turn = await turns.append(
        scene_id, role="user", speaker="Ash", content="Hello", author_id=7, message_ids=[11, 12]
    )
    assert (turn.seq, turn.role, turn.speaker, turn.author_id) == (1, "user", "Ash", 7)
    assert (turn.content, turn.swipes, turn.swipe_index) == ("Hello", ["Hello"], 0)
    assert not turn.edited and not turn.deleted
    assert turn.message_ids == [11, 12]
    assert turn.created_at.tzinfo is not None

    got = await turns.get(turn.id)
    assert got.message_ids == [11, 12] and got.seq == 1
    with pytest.raises(NotFoundError):
        await turns.get(9999)
    with pytest.raises(ValueError):
        await turns.append(scene_id, role="system", speaker="x", content="x")
    with pytest.raises(NotFoundError):
        await turns.append(9999, role="user", speaker="x", content="x")


async def test_seq_gap_free_under_concurrency(scenes: SceneStore, turns: TurnStore) -> None:
    a, b = await _scene_id(scenes, 1), await _scene_id(scenes, 2)

    async def writer(scene_id: int, worker: int, n: int) -> list[int]:
        seqs = []
        for i in range(n):
            t = await turns.append(scene_id, role="user", speaker=f"w{worker}", content=f"{i}")
            seqs.append(t.seq)
            await asyncio.sleep(0)
        return seqs

    results = await asyncio.gather(
        *(writer(a, w, 10) for w in range(5)), *(writer(b, w, 4) for w in range(3))
    )
    seqs_a = sorted(s for r in results[:5] for s in r)
    seqs_b = sorted(s for r in results[5:] for s in r)
    assert seqs_a == list(range(1, 51))
    assert seqs_b == list(range(1, 13))
    for r in results:  # each task sees its own appends in increasing order
        assert r == sorted(r)
    assert [t.seq for t in await turns.window(a, 100)] == list(range(1, 51))


async def test_seq_unique_across_connections(
    db: Database, db_url: str, scenes: SceneStore, turns: TurnStore
) -> None:
    """Four engines (own pools, own connections) append to one scene at the same time."""
    scene_id = await _scene_id(scenes)
    writers = [Database(db_url) for _ in range(4)]

    async def write(worker: int, database: Database) -> list[int]:
        store = TurnStore(database)
        return [
            (await store.append(scene_id, role="user", speaker=f"w{worker}", content=f"{i}")).seq
            for i in range(50)
        ]

    try:
        results = await asyncio.gather(*(write(w, d) for w, d in enumerate(writers)))
    finally:
        for database in writers:
            await database.dispose()
    assert sorted(seq for seqs in results for seq in seqs) == list(range(1, 201))
    stored = [t async for t in turns.iter_all(scene_id, include_deleted=True)]
    assert [t.seq for t in stored] == list(range(1, 201))
    for worker, seqs in enumerate(results):  # each writer's turns kept its own order
        mine = [t for t in stored if t.speaker == f"w{worker}"]
        assert [t.seq for t in mine] == seqs and [t.content for t in mine] == [
            str(i) for i in range(50)
        ]


async def test_failed_append_leaves_no_gap(scenes: SceneStore, turns: TurnStore) -> None:
    scene_id = await _scene_id(scenes)
    await turns.append(scene_id, role="user", speaker="A", content="a", message_ids=[5])
    with pytest.raises(StoreError):
        await turns.append(scene_id, role="user", speaker="A", content="b", message_ids=[5])
    with pytest.raises(NotFoundError):
        await turns.append(9999, role="user", speaker="A", content="c")
    assert (await turns.append(scene_id, role="user", speaker="A", content="d")).seq == 2


async def test_nul_characters_are_dropped(
    scenes: SceneStore, chars: CharacterStore, turns: TurnStore
) -> None:
    """PostgreSQL text cannot hold U+0000; no backend may fail a write because of one."""
    scene_id = await _scene_id(scenes)
    turn = await turns.append(scene_id, role="model", speaker="Mi\x00ra", content="Hel\x00lo")
    turn = await turns.add_swipe(turn.id, "Hi\x00!")
    got = await turns.get(turn.id)
    assert (got.speaker, got.content, got.swipes) == ("Mira", "Hi!", ["Hello", "Hi!"])

    card = {"data": {"description": "kept\x00verbatim"}}
    npc = await chars.create(
        guild_id=GUILD, kind="npc", name="Old\x00 Tom", sheet="S\x00", card_json=card
    )
    got_npc = await chars.get(npc.id)
    assert (got_npc.name, got_npc.sheet, got_npc.card_json) == ("Old Tom", "S", card)
    assert (await chars.find_npc(GUILD, "old tom")).id == npc.id


async def test_window(scenes: SceneStore, turns: TurnStore) -> None:
    scene_id = await _scene_id(scenes)
    other = await _scene_id(scenes, CHANNEL + 1)
    made = [
        await turns.append(scene_id, role="user", speaker="A", content=f"t{i}") for i in range(10)
    ]
    await turns.append(other, role="user", speaker="A", content="elsewhere")
    await turns.mark_deleted(made[8].id)

    assert [t.content for t in await turns.window(scene_id, 3)] == ["t6", "t7", "t9"]
    assert [t.seq for t in await turns.window(scene_id, 3, before_seq=5)] == [2, 3, 4]
    assert [t.seq for t in await turns.window(scene_id, 100, before_seq=3)] == [1, 2]
    assert await turns.window(scene_id, 0) == []
    assert len(await turns.window(scene_id, 100)) == 9
    # The director's light read gives the same turns, oldest first, with the prompt's fields.
    for limit, before in ((3, None), (3, 5), (100, 3), (0, None), (100, None)):
        full = await turns.window(scene_id, limit, before_seq=before)
        light = await turns.lines(scene_id, limit, before_seq=before)
        assert [(t.id, t.seq, t.role, t.speaker, t.content) for t in full] == [
            (t.id, t.seq, t.role, t.speaker, t.content) for t in light
        ]

    assert (await turns.last(scene_id)).content == "t9"
    assert await turns.count(scene_id) == 9
    assert await turns.count(other) == 1
    assert (await turns.get(made[8].id)).deleted
    with pytest.raises(NotFoundError):
        await turns.mark_deleted(9999)


async def test_prebuilt_reads(db: Database, scenes: SceneStore, turns: TurnStore) -> None:
    """`Database.rows`: plain rows, typed columns still converted, errors as SQLAlchemy's."""
    scene_id = await _scene_id(scenes)
    turn = await turns.append(scene_id, role="user", speaker="A", content="x", greeting=["y"])
    by_id = select(Turn.id, Turn.content).where(Turn.id == bindparam("id"))
    assert [tuple(row) for row in await db.rows(by_id, {"id": turn.id})] == [(turn.id, "x")]
    assert list(await db.rows(by_id, {"id": turn.id + 1})) == []
    # A JSON column needs converting, as SQLAlchemy's own execution does.
    swipes = select(Turn.swipes).where(Turn.id == bindparam("id"))
    assert [row[0] for row in await db.rows(swipes, {"id": turn.id})] == [["x", "y"]]
    with pytest.raises(DBAPIError):
        await db.rows(select(column("x")).select_from(table("no_such_table")), {})
    assert await turns.lines_after(scene_id, 0, 0) == []


async def test_prebuilt_reads_convert_types_without_leaving_the_fast_path(
    db: Database, backend: str, scenes: SceneStore, turns: TurnStore
) -> None:
    """Booleans and JSON come back typed, and a boolean parameter matches, on the plain
    sqlite3 connection too: on a SQLite file the round's reads never go through aiosqlite."""
    scene_id = await _scene_id(scenes)
    first = await turns.append(scene_id, role="user", speaker="A", content="x", private=True)
    await turns.append(scene_id, role="user", speaker="B", content="y", greeting=["z"])
    executed: list[str] = []

    def count(*args: Any) -> None:
        executed.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        query = select(Turn.private, Turn.swipes, Turn.seq).where(
            Turn.scene_id == bindparam("scene"), Turn.private == bindparam("private")
        )
        private = await db.rows(query, {"scene": scene_id, "private": True})
        shared = await db.rows(query, {"scene": scene_id, "private": False})
        window = await turns.lines(scene_id, 10)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert [tuple(row) for row in private] == [(True, ["x"], first.seq)]
    assert [tuple(row) for row in shared] == [(False, ["y", "z"], first.seq + 1)]
    assert type(private[0][0]) is bool and [line.private for line in window] == [False]
    if backend == "sqlite":
        assert executed == []  # none of the three went through SQLAlchemy's execution


async def test_edit_and_swipes(scenes: SceneStore, turns: TurnStore) -> None:
    scene_id = await _scene_id(scenes)
    turn = await turns.append(scene_id, role="model", speaker="Mira", content="one")

    turn = await turns.add_swipe(turn.id, "two")
    assert (turn.swipes, turn.swipe_index, turn.content) == (["one", "two"], 1, "two")
    turn = await turns.add_swipe(turn.id, "three")
    assert (turn.swipe_index, turn.content) == (2, "three")

    turn = await turns.select_swipe(turn.id, 0)
    assert (turn.swipe_index, turn.content) == (0, "one")
    with pytest.raises(StoreError):
        await turns.select_swipe(turn.id, 3)

    turn = await turns.edit(turn.id, "uno")
    assert turn.edited and turn.content == "uno"
    assert turn.swipes == ["uno", "two", "three"]

    again = await turns.get(turn.id)
    assert (again.content, again.swipes, again.swipe_index, again.edited) == (
        "uno",
        ["uno", "two", "three"],
        0,
        True,
    )
    assert again.updated_at >= again.created_at


async def test_message_ids(scenes: SceneStore, turns: TurnStore) -> None:
    scene_id = await _scene_id(scenes)
    first = await turns.append(scene_id, role="model", speaker="M", content="a", message_ids=[1])
    second = await turns.append(scene_id, role="model", speaker="M", content="b")
    assert second.message_ids == []

    await turns.set_message_ids(second.id, [30, 20, 10])
    assert (await turns.get(second.id)).message_ids == [30, 20, 10]  # ordered by part
    for message_id in (30, 20, 10):
        assert (await turns.by_message_id(message_id)).id == second.id
    assert (await turns.by_message_id(1)).id == first.id
    assert await turns.by_message_id(999) is None

    await turns.set_message_ids(second.id, [20, 40])  # keeps 20, drops 30 and 10
    assert (await turns.get(second.id)).message_ids == [20, 40]
    assert await turns.by_message_id(30) is None

    with pytest.raises(StoreError):
        await turns.set_message_ids(second.id, [1])  # belongs to the first turn
    with pytest.raises(StoreError):
        await turns.append(scene_id, role="user", speaker="A", content="c", message_ids=[40])
    with pytest.raises(NotFoundError):
        await turns.set_message_ids(9999, [5])


async def _selects(db: Database, call: Awaitable[Any]) -> list[tuple[str, Any]]:
    """Every SELECT (statement, parameters) issued while awaiting ``call``."""
    issued: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            issued.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await call
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    return issued


async def _query_plans(db: Database, call: Awaitable[Any]) -> list[str]:
    """The plan of every SELECT issued while awaiting ``call``, one line per plan node."""
    sqlite = db.engine.dialect.name == "sqlite"
    plans = []
    async with db.engine.connect() as conn:
        if not sqlite:
            # The test tables are tiny, where a seq scan is cheapest; ask whether an index *can*
            # serve the query: with seq scans priced out, PostgreSQL still uses one only if not.
            await conn.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN"
        for statement, params in await _selects(db, call):
            rows = await conn.exec_driver_sql(f"{explain} {statement}", params)
            plans.append(" | ".join(str(row[-1]) for row in rows))
    return plans


async def test_reads_use_indexes(
    db: Database, backend: str, scenes: SceneStore, turns: TurnStore
) -> None:
    scene_id = await _scene_id(scenes)
    await turns.append(scene_id, role="user", speaker="A", content="x", message_ids=[5])

    window_plan = (await _query_plans(db, turns.window(scene_id, 10, before_seq=50)))[0]
    lookup_plan = (await _query_plans(db, turns.by_message_id(5)))[0]
    if backend == "sqlite":
        assert "USING INDEX" in window_plan and "scene_id=?" in window_plan
        assert "TEMP B-TREE" not in window_plan  # ORDER BY seq DESC served by the index
        assert "SEARCH turn_messages USING" in lookup_plan and "message_id=?" in lookup_plan
        assert "SCAN" not in lookup_plan
    else:
        assert "Index Scan Backward using uq_turns_scene_id_seq" in window_plan
        assert "Sort" not in window_plan and "Seq Scan" not in window_plan
        assert "Index Scan using pk_turn_messages" in lookup_plan
        assert "Seq Scan" not in lookup_plan


async def test_iter_all_and_clear(scenes: SceneStore, turns: TurnStore) -> None:
    scene_id = await _scene_id(scenes)
    for i in range(12):
        await turns.append(scene_id, role="user", speaker="A", content=f"t{i}")
    victim = await turns.window(scene_id, 1, before_seq=5)
    await turns.mark_deleted(victim[0].id)

    seen = [t.seq async for t in turns.iter_all(scene_id, batch=5)]
    assert seen == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]
    every = [t.seq async for t in turns.iter_all(scene_id, batch=4, include_deleted=True)]
    assert every == list(range(1, 13))

    await turns.set_message_ids(victim[0].id, [77])
    assert await turns.clear(scene_id) == 12
    assert await turns.count(scene_id) == 0
    assert await turns.last(scene_id) is None
    assert await turns.by_message_id(77) is None
    assert [t async for t in turns.iter_all(scene_id)] == []
    assert (await turns.append(scene_id, role="user", speaker="A", content="new")).seq == 1


async def test_scene_delete_cascades_turns(
    db: Database, scenes: SceneStore, turns: TurnStore
) -> None:
    scene_id = await _scene_id(scenes)
    turn = await turns.append(scene_id, role="user", speaker="A", content="x", message_ids=[9])
    async with db.session() as s:
        await s.execute(text("DELETE FROM scenes WHERE id = :id"), {"id": scene_id})
        await s.commit()
    assert await turns.by_message_id(9) is None
    with pytest.raises(NotFoundError):
        await turns.get(turn.id)
