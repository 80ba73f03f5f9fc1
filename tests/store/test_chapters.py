"""Chapters in the store: per view and in order, GM edits and merges, closing atomically."""

from __future__ import annotations

import pytest

from bot.store import (
    SHARED_VIEW,
    ChapterStore,
    Database,
    NewChapter,
    NotFoundError,
    SceneStore,
    StorySummary,
    SummaryStore,
    view_key,
)
from bot.store.errors import StoreError
from bot.store.models import CHAPTER_TITLE_MAX
from bot.store.recall import RecallStore


async def _scene(db: Database, channel: int = 7) -> int:
    return (await SceneStore(db).start(guild_id=1, channel_id=channel, format="chatml")).id


def _new(title: str, first: int, last: int, text: str = "") -> NewChapter:
    return NewChapter(title, text or f"What happened in {title}.", first, last)


async def test_chapters_are_kept_per_view_in_order(db: Database) -> None:
    scene_id = await _scene(db)
    other = await _scene(db, channel=8)
    store = ChapterStore(db)
    second = await store.add(scene_id, _new("The Pier", 101, 200))
    first = await store.add(scene_id, _new("The Inn", 1, 100))
    own = await store.add(scene_id, _new("Marta's Secret", 1, 150), view=view_key(5))
    await store.add(other, _new("Elsewhere", 1, 10))

    assert [c.title for c in await store.of_view(scene_id)] == ["The Inn", "The Pier"]
    assert await store.of_view(scene_id, view_key(5)) == [own]
    assert await store.of_view(scene_id, view_key(6)) == []
    assert await store.ends(scene_id) == {SHARED_VIEW: 200, view_key(5): 150}
    assert await store.get(first.id) == first
    assert (second.first_seq, second.last_seq, second.edited) == (101, 200, False)
    with pytest.raises(NotFoundError):
        await store.get(own.id + 100)


async def test_a_chapter_needs_a_title_and_a_range(db: Database) -> None:
    scene_id = await _scene(db)
    store = ChapterStore(db)
    with pytest.raises(StoreError):
        await store.add(scene_id, _new("", 1, 10))
    with pytest.raises(StoreError):
        await store.add(scene_id, _new("x" * (CHAPTER_TITLE_MAX + 1), 1, 10))
    with pytest.raises(StoreError):
        await store.add(scene_id, _new("Backwards", 10, 9))
    assert await store.of_view(scene_id) == []


async def test_an_edit_marks_the_chapter_edited(db: Database) -> None:
    scene_id = await _scene(db)
    store = ChapterStore(db)
    chapter = await store.add(scene_id, _new("The Inn", 1, 100))
    retitled = await store.edit(chapter.id, title="The Drowned Inn")
    assert (retitled.title, retitled.edited) == ("The Drowned Inn", True)
    assert retitled.text == chapter.text
    rewritten = await store.edit(chapter.id, text="Ann bought the silver key.\x00")
    assert (rewritten.title, rewritten.text) == ("The Drowned Inn", "Ann bought the silver key.")
    with pytest.raises(StoreError):
        await store.edit(chapter.id, title="x" * (CHAPTER_TITLE_MAX + 1))
    assert await store.get(chapter.id) == rewritten


async def test_merging_joins_a_chapter_with_the_next_one(db: Database) -> None:
    scene_id = await _scene(db)
    store = ChapterStore(db)
    one = await store.add(scene_id, _new("One", 1, 100))
    two = await store.add(scene_id, _new("Two", 101, 200))
    three = await store.add(scene_id, _new("Three", 201, 300))
    own = await store.add(scene_id, _new("Own", 1, 50), view=view_key(5))

    for first, second in ((one, three), (two, one), (one, own), (one, one)):
        with pytest.raises(StoreError):
            await store.merge(first.id, second.id)
    merged = await store.merge(one.id, two.id)
    assert merged == await store.get(one.id)
    assert (merged.title, merged.first_seq, merged.last_seq, merged.edited) == (
        "One",
        1,
        200,
        True,
    )
    assert merged.text == f"{one.text}\n\n{two.text}"
    assert [c.title for c in await store.of_view(scene_id)] == ["One", "Three"]
    with pytest.raises(NotFoundError):
        await store.merge(one.id, two.id)


async def test_search_follows_edits_merges_and_clears(db: Database) -> None:
    """The full-text index over chapters is kept by the database through every change."""
    scene_id = await _scene(db)
    store, recall = ChapterStore(db), RecallStore(db)
    one = await store.add(scene_id, _new("The Inn", 1, 100, "Ann hid the lantern."))
    two = await store.add(scene_id, _new("The Pier", 101, 200, "Rook found the oars."))

    async def found(word: str) -> list[str]:
        return [c.title for c in await recall.chapters(scene_id, [SHARED_VIEW], [word], limit=5)]

    assert await found("lantern") == ["The Inn"]
    await store.edit(one.id, text="Ann hid the silver key.")
    assert await found("lantern") == [] and await found("key") == ["The Inn"]
    await store.merge(one.id, two.id)
    assert await found("oars") == ["The Inn"]
    assert await store.clear(scene_id) == 1
    assert await found("key") == [] and await store.of_view(scene_id) == []


async def test_advance_closes_a_chapter_only_over_the_summary_it_read(db: Database) -> None:
    """The chapter and the summary that starts over after it are stored together, or neither."""
    scene_id = await _scene(db)
    store, summaries = ChapterStore(db), SummaryStore(db)
    running = StorySummary("Earlier, Ann came to the inn.", 210)
    await summaries.put(scene_id, running)
    closed = _new("The Inn", 1, 210, running.text)
    after = StorySummary("Ann came to the inn.", 210)

    assert not await store.advance(scene_id, SHARED_VIEW, after, expect=None, chapters=[closed])
    assert await store.of_view(scene_id) == [] and await summaries.get(scene_id) == running
    assert await store.advance(scene_id, SHARED_VIEW, after, expect=running, chapters=[closed])
    [chapter] = await store.of_view(scene_id)
    assert (chapter.title, chapter.text, chapter.last_seq) == ("The Inn", running.text, 210)
    assert await summaries.get(scene_id) == after
    # A view with no summary yet gets its first one with the chapters it starts after.
    own = view_key(5)
    assert await store.advance(scene_id, own, after, expect=None, chapters=[closed])
    assert [c.title for c in await store.of_view(scene_id, own)] == ["The Inn"]
    assert await summaries.get(scene_id, own) == after
