"""`/scene chapters`: list, edit and merge a story's chapters; the export and a clear."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.scenes.service import SceneCommands
from bot.store import Database
from tests.channel.helpers import alice, gm
from tests.memory.helpers import CLOSE_AT, WHISPER, Table, chapters, has, rounds_until, table

WORDS_OVER = 600  # tokens of the scripted engine: one a word, over a chapter's 512


async def two_chapters(db: Database, *npcs: str) -> Table:
    """A table whose shared story closed two chapters."""
    t = await table(db, "Marta", *npcs, chapter_turns=CLOSE_AT)
    await rounds_until(t, lambda: has(t, 2), calls_each=1 + len(npcs))
    return t


async def test_list_names_each_chapter_with_its_turns(db: Database) -> None:
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    empty = await t.memory.chapters.show(gm())
    assert empty.text == (
        "The shared story has no chapters yet: its story so far is closed as one once it "
        f"covers {CLOSE_AT} turns."
    )
    await rounds_until(t, lambda: has(t, 2))
    one, two = await chapters(t)

    shown = await t.memory.chapters.show(gm())
    assert shown.text == (
        "The shared story: 2 chapters, oldest first (their texts are in the file):\n"
        f"1. Title 1 — turns 1–{one.last_seq}\n"
        f"2. Title 2 — turns {two.first_seq}–{two.last_seq}\n"
        f"The story so far goes on from turn {two.last_seq + 1}."
    )
    assert shown.file is not None and shown.file[0] == "chapters.txt"
    assert shown.file[1].decode() == (
        f"[1. Title 1, turns 1–{one.last_seq}]\n{one.text}\n\n"
        f"[2. Title 2, turns {two.first_seq}–{two.last_seq}]\n{two.text}\n"
    )
    with pytest.raises(UserError, match="Only a GM"):
        await t.memory.chapters.show(alice())


async def test_edit_retitles_and_rewrites_a_chapter(db: Database) -> None:
    t = await two_chapters(db)
    _, two = await chapters(t)

    retitled = await t.memory.chapters.edit(gm(), 2, title="  The \n Drowned Inn ")
    assert retitled.text == (
        f"Chapter 2 updated: The Drowned Inn — turns {two.first_seq}–{two.last_seq}.\n"
        f">>> {two.text}"
    )
    await t.memory.chapters.edit(gm(), 1, text="Ayla bought the silver key from Marta.")
    first, second = await chapters(t)
    assert (first.title, first.text, first.edited) == (
        "Title 1",
        "Ayla bought the silver key from Marta.",
        True,
    )
    assert (second.title, second.text, second.edited) == ("The Drowned Inn", two.text, True)
    assert "(edited)" in (await t.memory.chapters.show(gm())).text
    await t.talk(60)
    await t.fold()
    assert (await chapters(t))[:2] == [first, second], "the updates leave a GM's edit be"


async def test_bad_edits_are_refused_in_one_line(db: Database) -> None:
    t = await two_chapters(db)
    before = await chapters(t)
    refusals = {
        "There is no chapter 3 in this story: it has 2.": dict(number=3, title="X"),
        "Give the chapter a new title, a new text, or both.": dict(number=1),
        "A chapter's title is 1 to 100 characters long.": dict(number=1, title="x" * 101),
        "A chapter needs some text.": dict(number=1, text="  \n "),
        "That text would be 601 tokens, more than a chapter holds (512); shorten it first.": dict(
            number=1, text=" ".join(["word"] * WORDS_OVER)
        ),
    }
    for message, options in refusals.items():
        with pytest.raises(UserError) as refused:
            await t.memory.chapters.edit(gm(), **options)  # type: ignore[arg-type]
        assert str(refused.value) == message and "\n" not in message
    with pytest.raises(UserError, match="no chapter 1 in this story: it has none yet"):
        await t.memory.chapters.edit(gm(), 1, title="X", as_npc="Marta")
    assert await chapters(t) == before


async def test_merge_joins_a_chapter_with_the_next_within_a_chapter_s_size(
    db: Database,
) -> None:
    t = await table(db, "Marta", chapter_turns=CLOSE_AT)
    await rounds_until(t, lambda: has(t, 3))
    one, two, three = (await chapters(t))[:3]

    with pytest.raises(UserError, match="no chapter 0"):
        await t.memory.chapters.merge(gm(), 0)
    last = len(await chapters(t))
    with pytest.raises(UserError, match=f"Chapter {last} is the last one"):
        await t.memory.chapters.merge(gm(), last)
    half = " ".join(["word"] * (WORDS_OVER // 2))
    await t.memory.chapters.edit(gm(), 2, text=half)
    await t.memory.chapters.edit(gm(), 3, text=half)
    with pytest.raises(UserError) as refused:
        await t.memory.chapters.merge(gm(), 2)
    assert str(refused.value) == (
        "Chapters 2 and 3 together would be 601 tokens, more than a chapter holds (512); "
        "shorten it first."
    )

    merged = await t.memory.chapters.merge(gm(), 1)
    assert merged.text.startswith(f"Chapters 1 and 2 merged: Title 1 — turns 1–{two.last_seq}.")
    first, second = (await chapters(t))[:2]
    assert (first.title, first.first_seq, first.last_seq, first.edited) == (
        "Title 1",
        1,
        two.last_seq,
        True,
    )
    assert first.text == f"{one.text}\n\n{half}"
    assert (second.first_seq, second.text) == (three.first_seq, half)


async def test_an_npc_s_own_chapters_by_name(db: Database) -> None:
    t = await table(db, "Marta", "Ivo", chapter_turns=CLOSE_AT)
    await t.talk(10)
    await t.whisper("Marta")
    await rounds_until(t, lambda: has(t, 1, t.own("Marta")), calls_each=2)

    shared = await t.memory.chapters.show(gm())
    assert "With chapters of their own (from what they witnessed): Marta; see as:NPC." in (
        shared.text
    )
    own = await t.memory.chapters.show(gm(), "marta")
    assert own.text.startswith("Marta's own story: 1 chapter, oldest first")
    edited = await t.memory.chapters.edit(gm(), 1, title="Marta's Ledger", as_npc="Marta")
    assert edited.text.startswith("Chapter 1 updated: Marta's Ledger")
    assert (await chapters(t, t.own("Marta")))[0].title == "Marta's Ledger"
    assert (await t.memory.chapters.show(gm(), "Ivo")).text.startswith(
        "Ivo's own story has no chapters yet"
    )
    with pytest.raises(UserError, match="Nobody is not in this scene's cast"):
        await t.memory.chapters.show(gm(), "Nobody")


async def test_the_export_opens_with_the_shared_chapters(db: Database) -> None:
    t = await two_chapters(db)
    await t.talk(10)
    await t.whisper("Marta")  # Marta's own story takes the two chapters, then closes its own
    await rounds_until(t, lambda: has(t, 3, t.own("Marta")), calls_each=2)
    one, two = (await chapters(t))[:2]
    story = (await t.stories())[""]
    last = (await chapters(t))[-1]

    reply = await t.tavern.services.get(SceneCommands).export(gm())
    assert reply.file is not None
    text = reply.file[1].decode()
    opening = (
        f"[Chapter 1: Title 1, turns 1–{one.last_seq}]\n{one.text}\n\n"
        f"[Chapter 2: {two.title}, turns {two.first_seq}–{two.last_seq}]\n{two.text}\n\n"
    )
    assert text.startswith(opening)
    story_head = f"[Story so far, turns {last.last_seq + 1}–{story.through}]\n{story.text}\n\n"
    assert story_head in text and text.index(story_head) < text.index("Ayla: Ayla says line 0.")
    # Marta's own chapters are hers: the export marks her whisper, never her notes of it.
    assert len(await chapters(t, t.own("Marta"))) > 2
    assert text.count("[Chapter ") == len(await chapters(t))
    assert text.count(WHISPER) == 1


async def test_clearing_the_history_deletes_the_chapters(db: Database) -> None:
    """Seqs start again after a clear: old chapters would claim the new turns."""
    t = await two_chapters(db)
    scenes = t.tavern.services.get(SceneCommands)
    await scenes.clear(gm(), t.scene_id)
    assert await chapters(t) == []
