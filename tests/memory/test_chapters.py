"""Chapters: a view's story so far, once it covers CHAPTER_TURNS turns, closed and kept as it is."""

from __future__ import annotations

from itertools import pairwise

from bot.memory.chapters import carry_over, tidy_title
from bot.store import SHARED_VIEW, Chapter, Database
from bot.store.models import CHAPTER_TITLE_MAX
from tests.channel.helpers import gm
from tests.memory.helpers import (
    CLOSE_AT,
    WHISPER,
    calls,
    chapters,
    has,
    is_summary,
    read_for,
    rounds_until,
    table,
)


async def test_a_closed_chapter_never_changes_while_the_story_goes_on(db: Database) -> None:
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    first: Chapter | None = None
    stories: list[str] = []
    for _ in range(10):
        await t.talk(30)
        before = calls(t)
        await t.fold()
        assert calls(t) - before <= 1, "one model call a round for the one view"
        stories.append((await t.stories())[SHARED_VIEW].text if await t.stories() else "")
        closed = await chapters(t)
        if first is None and closed:
            first = closed[0]
        if first is not None:
            assert closed[0] == first, "byte for byte, title and range: never rewritten"

    assert first is not None and len(set(stories)) >= 6, "the story kept changing"
    closed = await chapters(t)
    assert len(closed) >= 2
    assert (first.title, first.first_seq, first.edited) == ("Title 1", 1, False)
    assert first.last_seq - first.first_seq + 1 >= CLOSE_AT
    # The chapters follow each other, and the story so far goes on after the last one.
    for one, two in pairwise(closed):
        assert two.first_seq == one.last_seq + 1
    story = (await t.stories())[SHARED_VIEW]
    assert story.through > closed[-1].last_seq
    # What a chapter holds was read from its own turns only, and no later story read them.
    assert "Ayla says line 0." in read_for(t.engine, first.text)
    assert "Ayla says line 0." not in read_for(t.engine, story.text.split("Summary")[-1])
    later = [r for r in t.engine.requests if is_summary(r)][-1].prompt.text
    assert f"Ayla says line {first.last_seq - 1}." not in later


async def test_closing_is_the_view_s_one_call_of_the_round(db: Database) -> None:
    """The round a story closes, its model call gives the title; no summary is written."""
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    summaries = 0

    async def closed() -> bool:
        nonlocal summaries
        summaries = sum(is_summary(r) for r in t.engine.requests)
        return bool(await chapters(t))

    await rounds_until(t, closed)
    assert len(t.engine.titled) == 1
    assert sum(is_summary(r) for r in t.engine.requests) == summaries
    [chapter] = await chapters(t)
    title_prompt = t.engine.titled[0].prompt.text
    assert f"Story so far: {chapter.text}" in title_prompt
    story = (await t.stories())[SHARED_VIEW]
    assert story.through == chapter.last_seq, "the story starts over after the chapter"
    assert story.text.startswith("Previously (Title 1): ") and len(story.text) < 200


async def test_a_title_the_model_fails_to_give_is_chapter_n(db: Database) -> None:
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    t.engine.titles.extend(["", " ***", ' "The Silver Key".\nIt was found.'])
    await rounds_until(t, lambda: has(t, 3))
    titles = [c.title for c in await chapters(t)]
    assert titles == ["Chapter 1", "Chapter 2", "The Silver Key"]


def test_a_title_is_one_plain_line() -> None:
    assert tidy_title(" **Title: The Drowned Inn.**\nMore.") == "The Drowned Inn"
    assert tidy_title("Chapter title: “Smugglers' Cove”") == "Smugglers' Cove"
    assert tidy_title("   \n\n  The Pier  ") == "The Pier"
    told = "Ayla came to the inn and asked Marta about the key and the ship and the harbour"
    assert tidy_title(told) is None, "a story told again is not a title"
    assert tidy_title("...") is None and tidy_title("") is None
    long = " ".join(["Supercalifragilisticexpialidocious"] * 4)
    assert len(long) > CHAPTER_TITLE_MAX
    assert tidy_title(long) == " ".join(["Supercalifragilisticexpialidocious"] * 2)


def test_the_carry_over_is_the_chapter_s_end() -> None:
    story = "Ann came to the inn. Marta sold her a key! Then the fog rolled in over the pier."
    assert carry_over("The Inn", story, 12) == (
        "Previously (The Inn): Then the fog rolled in over the pier."
    )
    assert carry_over("The Inn", story, 15) == (
        "Previously (The Inn): Marta sold her a key! Then the fog rolled in over the pier."
    )
    assert carry_over("The Inn", "one two three four five six", 3) == (
        "Previously (The Inn): …four five six"
    )


async def test_a_whisper_never_enters_a_shared_chapter(db: Database) -> None:
    t = await table(db, "Marta", "Ivo", chapter_turns=CLOSE_AT)
    await t.talk(10)
    await t.whisper("Marta")
    marta = t.own("Marta")

    async def both() -> bool:  # both stories closed once (wherever their chapters went)
        return len(await chapters(t)) + len(await chapters(t, marta)) >= 2

    await rounds_until(t, both, calls_each=2)  # the shared story's and Marta's

    shared = await chapters(t)
    for chapter in shared:
        assert WHISPER not in read_for(t.engine, chapter.text)
    own = "\n".join(read_for(t.engine, c.text) for c in await chapters(t, marta))
    assert f"Ayla (in private): {WHISPER}" in own
    assert await chapters(t, t.own("Ivo")) == [], "Ivo saw what everyone saw: no own chapters"


async def test_a_view_forking_from_the_shared_story_takes_its_chapters(db: Database) -> None:
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    await rounds_until(t, lambda: has(t, 1))
    [shared] = await chapters(t)
    await t.whisper("Marta")  # after the shared story's turns: Marta's own starts from it
    await t.talk(30)
    await t.fold()

    marta = t.own("Marta")
    [inherited] = await chapters(t, marta)
    assert (inherited.title, inherited.text, inherited.first_seq, inherited.last_seq) == (
        shared.title,
        shared.text,
        shared.first_seq,
        shared.last_seq,
    )
    await rounds_until(t, lambda: has(t, 2, marta), calls_each=2)
    own = (await chapters(t, marta))[1]
    assert own.first_seq == shared.last_seq + 1
    assert WHISPER in read_for(t.engine, own.text)


async def test_clearing_the_story_keeps_the_chapters_and_goes_on_after_them(db: Database) -> None:
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    await rounds_until(t, lambda: has(t, 1))
    [chapter] = await chapters(t)
    await t.memory.clear(gm())
    await t.talk(30)
    await t.fold()

    assert await chapters(t) == [chapter]
    new = [r for r in t.engine.requests if is_summary(r)][-1].prompt.text
    assert "Ayla says line 0." not in new, "the turns the chapter covers are not read again"
    assert f"Ayla says line {chapter.last_seq}." in new
    shown = (await t.memory.show(gm())).text
    story = (await t.stories())[SHARED_VIEW]
    assert f"covers turns {chapter.last_seq + 1}–{story.through}, after one chapter" in shown


async def test_a_story_longer_than_a_chapter_is_rewritten_before_it_closes(db: Database) -> None:
    """A GM's long story is folded within the story's limit first, then closed the next round."""
    t = await table(
        db, "Marta", chapter_turns=CLOSE_AT, summary_max_tokens=64, chapter_max_tokens=64
    )

    async def covers() -> bool:
        stories = await t.stories()
        return bool(stories) and stories[SHARED_VIEW].through >= CLOSE_AT

    await rounds_until(t, covers)
    assert await chapters(t) == [], "due to close at the next round"
    await t.memory.edit(gm(), " ".join(["word"] * 100))  # 101 tokens: more than a chapter
    await t.talk(30)
    await t.fold()
    assert await chapters(t) == [] and len(t.engine.titled) == 0
    assert (await t.stories())[SHARED_VIEW].text.startswith("Earlier, Summary")
    await t.fold()
    [chapter] = await chapters(t)
    assert chapter.text.startswith("Earlier, Summary")
