"""Alembic migrations on SQLite and PostgreSQL: upgrade/downgrade round trip and model drift."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store import CharacterStore, Database, SceneStore, TurnStore
from bot.store.migrate import alembic_config, current_revision, downgrade, upgrade
from bot.store.models import Base
from bot.store.search import include_object, is_search_object

TABLES = {
    "guild_configs",
    "characters",
    "scenes",
    "cast_members",
    "player_bindings",
    "player_defaults",
    "turns",
    "turn_messages",
    "lorebooks",
    "lore_entries",
    "scene_chapters",
    "scene_lorebooks",
    "scene_summaries",
    "turn_rolls",
    "turn_witnesses",
    "state_changes",
    "recall_embeddings",
}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return {n for n in names if not is_search_object(n)} - {"alembic_version", "sqlite_sequence"}


async def _diff(url: str, metadata: sa.MetaData) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(
                        c, opts={"compare_type": True, "include_object": include_object}
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()


HEAD = "0012_recall_embeddings"


async def _old_npc(db: Database, name: str) -> int:
    """An NPC written with the columns every revision has (the ORM's insert has newer ones)."""
    now = datetime.now(UTC)
    when = sa.DateTime(timezone=True)
    characters = sa.table(
        "characters",
        *(sa.column(c, sa.String) for c in ("kind", "name", "name_key", "sheet")),
        *(sa.column(c, sa.BigInteger) for c in ("guild_id", "owner_key")),
        sa.column("id", sa.Integer),
        sa.column("created_at", when),
        sa.column("updated_at", when),
    )
    row = {"kind": "npc", "name": name, "name_key": name.casefold(), "sheet": "s"}
    row |= {"guild_id": 1, "owner_key": 0, "created_at": now, "updated_at": now}
    async with db.engine.begin() as conn:
        inserted = await conn.execute(characters.insert().values(**row).returning(characters.c.id))
        return int(inserted.scalar_one())


async def _old_scene(db: Database, npc_id: int | None = None) -> int:
    """A scene (and its cast) written with the columns every revision has; the ORM reads newer."""
    now = datetime.now(UTC)
    when = sa.DateTime(timezone=True)
    scenes = sa.table(
        "scenes",
        sa.column("id", sa.Integer),
        sa.column("guild_id", sa.BigInteger),
        sa.column("channel_id", sa.BigInteger),
        sa.column("format", sa.String),
        sa.column("created_at", when),
        sa.column("updated_at", when),
    )
    cast = sa.table(
        "cast_members",
        sa.column("scene_id", sa.Integer),
        sa.column("character_id", sa.Integer),
        sa.column("added_at", when),
    )
    row = {"guild_id": 1, "channel_id": 1, "format": "chatml", "created_at": now, "updated_at": now}
    async with db.engine.begin() as conn:
        inserted = await conn.execute(scenes.insert().values(**row).returning(scenes.c.id))
        scene_id = int(inserted.scalar_one())
        if npc_id is not None:
            added = {"scene_id": scene_id, "character_id": npc_id, "added_at": now}
            await conn.execute(cast.insert().values(**added))
    return scene_id


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    assert script.get_heads() == [HEAD]
    revisions = [s.revision for s in script.walk_revisions()]
    assert revisions == [
        HEAD,
        "0011_table_and_voices",
        "0010_recall",
        "0009_presence",
        "0008_pause_and_mute",
        "0007_dice_and_state",
        "0006_scene_summary",
        "0005_greeting_turns",
        "0004_lorebooks",
        "0003_pending_turns",
        "0002_name_key_length",
        "0001_initial",
    ]


async def test_upgrade_downgrade_roundtrip(db_url: str) -> None:
    url = db_url
    assert await current_revision(url) is None

    await upgrade(url)
    assert await current_revision(url) == HEAD
    assert await _tables(url) == TABLES

    await downgrade(url, "0001_initial")
    assert await current_revision(url) == "0001_initial"
    await downgrade(url)
    assert await current_revision(url) is None
    assert await _tables(url) == set()

    await upgrade(url, "head")
    assert await current_revision(url) == HEAD
    assert await _tables(url) == TABLES


async def test_name_key_widening_keeps_rows_and_links(db_url: str) -> None:
    """0002 rebuilds the characters table on SQLite: rows, ids and foreign keys survive."""
    await upgrade(db_url, "0001_initial")
    db = Database(db_url)
    try:
        npc_id = await _old_npc(db, "Mira")
        scene_id = await _old_scene(db, npc_id)
    finally:
        await db.dispose()

    await upgrade(db_url)
    db = Database(db_url)
    try:
        chars, scenes = CharacterStore(db), SceneStore(db)
        assert (await chars.find_npc(1, "MIRA")).id == npc_id
        assert [c.id for c in await scenes.cast(scene_id)] == [npc_id]
        long_name = "ß" * 80  # casefolds to 160 characters
        assert (await chars.create(guild_id=1, kind="npc", name=long_name, sheet="s")).id > npc_id
        await chars.delete(npc_id)
        assert await scenes.cast(scene_id) == []  # the cascade still points at the new table
    finally:
        await db.dispose()


async def test_pending_turns_migrate_both_ways(db_url: str) -> None:
    """0003: stored turns stay in the history; going back hides turns still pending."""
    await upgrade(db_url, "0002_name_key_length")
    db = Database(db_url)
    try:
        scene_id = await _old_scene(db)
        await db.dispose()
        await upgrade(db_url)
        turns = TurnStore(db)
        await turns.append(scene_id, role="user", speaker="Ann", content="Before.")
        old = await turns.window(scene_id, 10)
        assert [(t.content, t.pending) for t in old] == [("Before.", False)]
        await turns.append(scene_id, role="model", speaker="Mira", content="Unseen.", pending=True)
        await db.dispose()
        await downgrade(db_url, "0002_name_key_length")
        await upgrade(db_url)
        rows = [t async for t in turns.iter_all(scene_id, include_deleted=True)]
        assert [(t.content, t.deleted) for t in rows] == [("Before.", False), ("Unseen.", True)]
    finally:
        await db.dispose()


async def test_greeting_turns_migrate_both_ways(db_url: str) -> None:
    """0005: a greeting keeps its versions as swipes; going back makes it an ordinary turn."""
    await upgrade(db_url)
    db = Database(db_url)
    try:
        scene = await SceneStore(db).start(guild_id=1, channel_id=1, format="chatml")
        turns = TurnStore(db)
        hello = await turns.append(
            scene.id, role="model", speaker="Mira", content="Hello.", greeting=["Hi.", "Hey."]
        )
        assert (hello.greeting, hello.swipes) == (True, ["Hello.", "Hi.", "Hey."])
        plain = await turns.append(scene.id, role="model", speaker="Mira", content="So.")
        assert (plain.greeting, plain.swipes) == (False, ["So."])
        await db.dispose()
        await downgrade(db_url, "0004_lorebooks")
        await upgrade(db_url)
        again = await turns.get(hello.id)
        assert (again.greeting, again.swipes) == (False, ["Hello.", "Hi.", "Hey."])
    finally:
        await db.dispose()


async def test_models_match_migrations(db_url: str) -> None:
    await upgrade(db_url)
    assert await _diff(db_url, Base.metadata) == []


async def test_drift_check_detects_changes(db_url: str) -> None:
    url = db_url
    await upgrade(url)
    changed = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["turns"].append_column(sa.Column("mood", sa.String(20)))
    changed.tables["characters"].c.name.type = sa.String(120)

    diff = _diff_kinds(await _diff(url, changed))
    assert ("add_column", "mood") in diff
    assert ("modify_type", "name") in diff


def _diff_kinds(diff: list[Any]) -> set[tuple[str, str]]:
    kinds: set[tuple[str, str]] = set()
    for entry in diff:
        for op in entry if isinstance(entry, list) else [entry]:
            if op[0] == "add_column":
                kinds.add(("add_column", op[3].name))
            elif op[0] == "modify_type":
                kinds.add(("modify_type", op[3]))
    return kinds


def test_url_with_percent_sign() -> None:
    cfg = alembic_config("postgresql+asyncpg://u:p%40ss@host/db")
    assert cfg.get_main_option("sqlalchemy.url") == "postgresql+asyncpg://u:p%40ss@host/db"
