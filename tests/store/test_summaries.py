"""The story so far in the store: read, write, compare-and-set, clear, and migration 0006."""

from __future__ import annotations

from bot.store import Database, SceneStore, StorySummary, SummaryStore, TurnStore
from bot.store.migrate import downgrade, upgrade


async def _scene(db: Database) -> int:
    return (await SceneStore(db).start(guild_id=1, channel_id=7, format="chatml")).id


async def test_put_get_clear(db: Database) -> None:
    scene_id = await _scene(db)
    store = SummaryStore(db)
    assert await store.get(scene_id) is None
    await store.put(scene_id, StorySummary("Mira owes Ann a boat.\x00", 12))
    assert await store.get(scene_id) == StorySummary("Mira owes Ann a boat.", 12)
    await store.put(scene_id, StorySummary("Edited by the GM.", 12))
    assert await store.get(scene_id) == StorySummary("Edited by the GM.", 12)
    assert await store.clear(scene_id)
    assert not await store.clear(scene_id)
    assert await store.get(scene_id) is None


async def test_replace_only_over_what_it_read(db: Database) -> None:
    """A summariser that read an older summary never overwrites a GM's edit or clear."""
    scene_id = await _scene(db)
    store = SummaryStore(db)
    first = StorySummary("One.", 4)
    assert await store.replace(scene_id, first, expect=None)
    assert not await store.replace(scene_id, StorySummary("Two.", 8), expect=None)
    await store.put(scene_id, StorySummary("GM.", 4))
    assert not await store.replace(scene_id, StorySummary("Two.", 8), expect=first)
    assert await store.get(scene_id) == StorySummary("GM.", 4)
    assert await store.replace(scene_id, StorySummary("Two.", 8), expect=StorySummary("GM.", 4))


async def test_clearing_the_history_clears_the_summary(db: Database) -> None:
    """Seqs start again after a clear, so an old summary would hide the new turns."""
    scene_id = await _scene(db)
    turns = TurnStore(db)
    for i in range(3):
        await turns.append(scene_id, role="user", speaker="Ann", content=f"t{i}")
    await SummaryStore(db).put(scene_id, StorySummary("Old.", 3))
    await turns.clear(scene_id)
    assert await SummaryStore(db).get(scene_id) is None


async def test_lines_after(db: Database) -> None:
    scene_id = await _scene(db)
    turns = TurnStore(db)
    for i in range(6):
        await turns.append(scene_id, role="user", speaker="Ann", content=f"t{i}")
    got = await turns.lines_after(scene_id, 2, 2)
    assert [t.seq for t in got] == [3, 4]
    assert [t.seq for t in await turns.lines_after(scene_id, 2, 9, before_seq=5)] == [3, 4]


async def test_summary_migrates_both_ways(db_url: str) -> None:
    """0006 adds the table; going back drops it and keeps every turn."""
    await upgrade(db_url)
    db = Database(db_url)
    try:
        scene_id = await _scene(db)
        await TurnStore(db).append(scene_id, role="user", speaker="Ann", content="Kept.")
        await SummaryStore(db).put(scene_id, StorySummary("S.", 1))
        await db.dispose()
        await downgrade(db_url, "0005_greeting_turns")
        await upgrade(db_url)
        assert await SummaryStore(db).get(scene_id) is None
        assert [t.content for t in await TurnStore(db).lines(scene_id, 5)] == ["Kept."]
    finally:
        await db.dispose()
