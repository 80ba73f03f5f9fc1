"""`/scene chapters`: each view's closed chapters, listed, edited and merged by a GM."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from bot.channel.access import Access
from bot.channel.ports import Actor, Reply
from bot.errors import UserError
from bot.memory.chapters import ChapterConfig, Chapters
from bot.memory.summarizer import Summarizer
from bot.prompts import Prompt
from bot.store import SHARED_VIEW, Chapter, Stores, view_key
from bot.store.chapters import merged_text
from bot.store.models import CHAPTER_TITLE_MAX

LIST_MAX_CHARS = 1800  # a Discord message holds 2,000; a longer list comes in the file
SHOWN_MAX_CHARS = 1500
FILE_NAME = "chapters.txt"


class NpcNames(Protocol):
    """How the memory feature finds an NPC by name, and names the owners of views."""

    async def find_npc(
        self, scene_id: int, typed_name: str, keys: Collection[str]
    ) -> tuple[int, str]: ...

    async def names(self, scene_id: int, keys: Collection[str]) -> dict[str, str]: ...


def turns(chapter: Chapter) -> str:
    """The turns a chapter covers, as a GM reads them."""
    return f"turns {chapter.first_seq}–{chapter.last_seq}"


def listing(chapters: Sequence[Chapter]) -> str:
    """One line per chapter: its number, title and turns."""
    return "\n".join(
        f"{number}. {c.title} — {turns(c)}" + (" (edited)" if c.edited else "")
        for number, c in enumerate(chapters, 1)
    )


def texts(chapters: Sequence[Chapter]) -> bytes:
    """Every chapter with its text, as the file a GM reads them in."""
    blocks = (
        f"[{number}. {c.title}, {turns(c)}]\n{c.text}\n" for number, c in enumerate(chapters, 1)
    )
    return "\n".join(blocks).encode()


def one_line(text: str) -> str:
    """A title as typed, on one line."""
    return " ".join(text.split())


class ChapterCommands:
    """The GM's view of each story's chapters: list, edit (title or text), merge."""

    def __init__(
        self, stores: Stores, access: Access, summarizer: Summarizer, npcs: NpcNames
    ) -> None:
        self.stores = stores
        self.access = access
        self.summarizer = summarizer
        self.npcs = npcs

    @property
    def _chapters(self) -> Chapters:
        """The closing rules in use (the defaults where the summariser closes none)."""
        found = self.summarizer.chapters
        if found is None:
            return Chapters(self.summarizer.engine, self.stores.chapters, ChapterConfig())
        return found

    @property
    def limit(self) -> int:
        """A chapter's size in tokens."""
        return self._chapters.limit(self.summarizer.max_tokens)

    async def _view(self, actor: Actor, as_npc: str | None) -> tuple[int, str, str]:
        """The scene, the view key and whose chapters they are, for a GM."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        if as_npc is None:
            return scene.id, SHARED_VIEW, "The shared story"
        keys = await self._own_keys(scene.id)
        npc_id, name = await self.npcs.find_npc(scene.id, as_npc, keys)
        return scene.id, view_key(npc_id), f"{name}'s own story"

    async def _own_keys(self, scene_id: int) -> set[str]:
        """The views of the scene with a story or chapters of their own."""
        stories = await self.stores.summaries.views(scene_id)
        ends = await self.stores.chapters.ends(scene_id)
        return {key for key in (*stories, *ends) if key != SHARED_VIEW}

    async def show(self, actor: Actor, as_npc: str | None = None) -> Reply:
        """The chapters of the shared story (`as_npc`: that NPC's own), their texts as a file."""
        scene_id, view, whose = await self._view(actor, as_npc)
        chapters = await self.stores.chapters.of_view(scene_id, view)
        notes = [await self._others(scene_id)] if view == SHARED_VIEW else []
        if not chapters:
            closes = self._chapters.config.turns
            when = f"once it covers {closes} turns" if closes > 0 else "never (CHAPTER_TURNS=0)"
            first = f"{whose} has no chapters yet: its story so far is closed as one {when}."
            return Reply("\n".join(line for line in (first, *notes) if line))
        count = "1 chapter" if len(chapters) == 1 else f"{len(chapters)} chapters"
        head = f"{whose}: {count}, oldest first (their texts are in the file):"
        body = listing(chapters)
        goes_on = f"The story so far goes on from turn {chapters[-1].last_seq + 1}."
        lines = [head, body, goes_on, *notes]
        text = "\n".join(line for line in lines if line)
        if len(text) > LIST_MAX_CHARS:
            text = "\n".join(line for line in (head, goes_on, *notes) if line)
            return Reply(text, file=(FILE_NAME, body.encode() + b"\n\n" + texts(chapters)))
        return Reply(text, file=(FILE_NAME, texts(chapters)))

    async def _others(self, scene_id: int) -> str:
        """The line naming the NPCs with chapters of their own ("" if none)."""
        ends = await self.stores.chapters.ends(scene_id)
        names = await self.npcs.names(scene_id, [k for k in ends if k != SHARED_VIEW])
        if not names:
            return ""
        shown = ", ".join(sorted(names.values(), key=str.casefold))
        return f"With chapters of their own (from what they witnessed): {shown}; see as:NPC."

    async def _numbered(self, scene_id: int, view: str, number: int) -> tuple[list[Chapter], int]:
        """The view's chapters and the index of chapter `number` among them."""
        chapters = await self.stores.chapters.of_view(scene_id, view)
        if not 1 <= number <= len(chapters):
            have = f"it has {len(chapters)}" if chapters else "it has none yet"
            raise UserError(f"There is no chapter {number} in this story: {have}.")
        return chapters, number - 1

    async def _fits(self, text: str, what: str) -> None:
        """Refuse a text larger than a chapter holds."""
        (used,) = await self.summarizer.engine.count_many([Prompt.plain(text)])
        if used > self.limit:
            raise UserError(
                f"{what} would be {used} tokens, more than a chapter holds ({self.limit}); "
                "shorten it first."
            )

    async def edit(
        self,
        actor: Actor,
        number: int,
        title: str | None = None,
        text: str | None = None,
        as_npc: str | None = None,
    ) -> Reply:
        """A new title and/or text for chapter `number` (`as_npc`: of that NPC's own story)."""
        scene_id, view, _ = await self._view(actor, as_npc)
        if title is None and text is None:
            raise UserError("Give the chapter a new title, a new text, or both.")
        chapters, index = await self._numbered(scene_id, view, number)
        new_title = None if title is None else one_line(title)
        if new_title is not None and not 1 <= len(new_title) <= CHAPTER_TITLE_MAX:
            raise UserError(f"A chapter's title is 1 to {CHAPTER_TITLE_MAX} characters long.")
        new_text = None if text is None else text.strip()
        if new_text is not None:
            if not new_text:
                raise UserError("A chapter needs some text.")
            await self._fits(new_text, "That text")
        edited = await self.stores.chapters.edit(chapters[index].id, title=new_title, text=new_text)
        note = f"Chapter {number} updated: {edited.title} — {turns(edited)}."
        return _with_text(note, edited.text)

    async def merge(self, actor: Actor, first: int, as_npc: str | None = None) -> Reply:
        """Merge chapter `first` with the next one: one chapter, the first's title."""
        scene_id, view, _ = await self._view(actor, as_npc)
        chapters, index = await self._numbered(scene_id, view, first)
        if index + 1 >= len(chapters):
            raise UserError(f"Chapter {first} is the last one: there is no next one to merge.")
        one, two = chapters[index], chapters[index + 1]
        await self._fits(merged_text(one, two), f"Chapters {first} and {first + 1} together")
        merged = await self.stores.chapters.merge(one.id, two.id)
        note = f"Chapters {first} and {first + 1} merged: {merged.title} — {turns(merged)}."
        return _with_text(note, merged.text)


def _with_text(note: str, text: str) -> Reply:
    """`note` and a chapter's text: in the message if it fits, else as a file."""
    if len(text) > SHOWN_MAX_CHARS:
        return Reply(note, file=(FILE_NAME, text.encode()))
    return Reply(f"{note}\n>>> {text}")
