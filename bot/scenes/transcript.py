"""A scene's transcript file, written page by page off the event loop."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable, Mapping, Sequence

from bot.store import Chapter, ChapterStore, StorySummary, SummaryStore, TurnLine, TurnStore

# Larger transcripts go out zipped: Discord refuses attachments over about 10 MB, and plain
# text packs several times over.
PLAIN_MAX_BYTES = 8 * 1024 * 1024
PAGE = 500  # turns read per query: each page's rows are built on the event loop
PRIVATE_MARK = " (private)"  # a private roll: the GM's export shows it, no prompt does
# A page's labels by turn id ("(whisper to Marta)"): what only some characters witnessed.
Marks = Callable[[Sequence[TurnLine]], Awaitable[Mapping[int, str]]]


class TranscriptWriter:
    """Collects "Speaker: text" blocks; `finish` gives the file to attach."""

    def __init__(self, summary: StorySummary | None, chapters: Sequence[Chapter] = ()) -> None:
        # Bytes, encoded page by page: one encode of the whole transcript would hold the GIL,
        # and so the event loop, for as long as it takes.
        self._out = io.BytesIO()
        self.turns = 0
        # The chapters, then the story so far after them: the campaign in brief, then in full.
        for number, c in enumerate(chapters, 1):
            head = f"[Chapter {number}: {c.title}, turns {c.first_seq}–{c.last_seq}]\n{c.text}\n\n"
            self._out.write(head.encode())
        if summary is not None:
            first = chapters[-1].last_seq + 1 if chapters else 1
            head = f"[Story so far, turns {first}–{summary.through}]\n{summary.text}\n\n"
            self._out.write(head.encode())

    def add(self, page: Sequence[TurnLine], marks: Mapping[int, str] | None = None) -> None:
        """Append a page of turns (CPU work on a long scene: call it in a worker thread).

        `marks` labels turns by id after the speaker's name.
        """
        marks = marks or {}
        blocks = (f"{_heading(line, marks)}: {line.content}\n\n" for line in page)
        self._out.write("".join(blocks).encode())
        self.turns += len(page)

    def finish(self) -> tuple[str, bytes]:
        """The file name and bytes: plain text, or zipped when too large to attach as text."""
        data = self._out.getvalue()[:-1]  # one line break at the end, not a blank line
        if len(data) <= PLAIN_MAX_BYTES:
            return "transcript.txt", data
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("transcript.txt", data)
        return "transcript.zip", packed.getvalue()


def _heading(line: TurnLine, marks: Mapping[int, str]) -> str:
    """The speaker, with what a GM should know about who witnessed the turn."""
    heading = line.speaker + (PRIVATE_MARK if line.private else "")
    label = marks.get(line.id)
    return f"{heading} {label}" if label else heading


async def transcript(
    turns: TurnStore,
    summaries: SummaryStore,
    chapters: ChapterStore,
    scene_id: int,
    marks: Marks | None = None,
) -> tuple[int, tuple[str, bytes]]:
    """How many turns a scene's history has, and its transcript file (no scene read at once).

    For a GM: private rolls are in it, marked, and the turns `marks` labels (whispers, tells).
    The shared story's chapters and story so far come first (never an NPC's own: they hold
    its secrets in its words, which the marked turns already show).
    """
    writer = TranscriptWriter(await summaries.get(scene_id), await chapters.of_view(scene_id))
    after = 0
    while page := await turns.lines_after(scene_id, after, PAGE, with_private=True):
        labels = await marks(page) if marks is not None else {}
        await asyncio.to_thread(writer.add, page, labels)
        after = page[-1].seq
    return writer.turns, await asyncio.to_thread(writer.finish)
