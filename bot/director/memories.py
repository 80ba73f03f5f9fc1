"""The Memories block: old moments of the speaker's view, placed where the prefix cache keeps.

Recall runs for an NPC's prompt only. What it finds (through the scene view's `RecallSource`)
goes in as one block right after the newest turn of the window, so everything before it is the
previous prompt's prefix. While the window stays put and a prompt recalls nothing new (what it
would place is in the last block, and everything in that block was found again), the last
block stays where it was, and the whole previous prompt is the next one's prefix. The block
never takes more than its budget; the window is planned with the whole budget taken, so what
is recalled from one prompt to the next never moves the window.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from bot.director.budget import TokenCounter
from bot.director.types import (
    Memory,
    Recalled,
    RecallFound,
    RecallQuery,
    SceneView,
    StoredTurn,
    Witness,
)
from bot.domain import LoreInsert
from bot.names import speaker_name
from bot.prompts import Prompt, PromptFormat, is_ooc

RECENT_TURNS = 3  # the newest turns of the view whose words the search uses
HEADING = "Memories (earlier in this scene):"
# Recall takes at most this share of what the history could use, whatever its budget says:
# the newest turns always keep most of the room.
ROOM_SHARE = 4
# A line this many times longer than the budget in characters cannot fit: never tokenized.
CHARS_PER_TOKEN_MAX = 16


def recall_reserve(scene: SceneView, speaker: str | None, player: bool, room: int) -> int:
    """Tokens the Memories block of this prompt may take: none but for an NPC's prompt."""
    if scene.recall is None or speaker is None or player or room <= 0:
        return 0
    return max(0, min(scene.recall.budget, room // ROOM_SHARE))


def memory_line(memory: Memory) -> str:
    """One memory as the block shows it: who said what, or a chapter's title and summary."""
    if memory.chapter:
        return f"{memory.speaker} (chapter): {memory.text}"
    return f"{speaker_name(memory.speaker)}: {memory.text}"


def memories_insert(memories: Sequence[Memory], depth: int) -> LoreInsert:
    """The Memories block, oldest first, `depth` turns from the end of the history."""
    lines = [memory_line(m) for m in _oldest_first(memories)]
    return LoreInsert(depth, "system", "\n".join((HEADING, *lines)))


@dataclass(frozen=True)
class _Block:
    """The Memories block of a view's last prompt, and where it went."""

    start_seq: int  # the first turn of that prompt's window
    after_seq: int  # the turn it follows
    placed: tuple[Memory, ...]
    used: int


class MemoryLayouts:
    """The last Memories block of each recently prompted view (only in memory)."""

    def __init__(self, capacity: int = 2048) -> None:
        self._blocks: OrderedDict[tuple[int, Witness], _Block] = OrderedDict()
        self.capacity = capacity

    def get(self, key: tuple[int, Witness]) -> _Block | None:
        return self._blocks.get(key)

    def put(self, key: tuple[int, Witness], block: _Block) -> None:
        self._blocks[key] = block
        self._blocks.move_to_end(key)
        while len(self._blocks) > self.capacity:
            self._blocks.popitem(last=False)


@dataclass(frozen=True)
class RecallAsk:
    """One prompt's recall: whose view, the window it fills and what may be spent."""

    scene: SceneView  # as its speaker sees it
    view: Witness
    speaker: str
    kept: Sequence[StoredTurn]  # the window, oldest first
    budget: int
    before_seq: int | None  # a rewrite of an older turn: the layout is neither read nor kept


class Memories:
    """Recall for an NPC's prompt, within its budget, kept in place while nothing new comes."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.layouts = MemoryLayouts()

    async def recall(self, ask: RecallAsk) -> tuple[Recalled, LoreInsert | None]:
        """What this prompt recalls, and its block (None when nothing goes in)."""
        scene, kept = ask.scene, ask.kept
        if scene.recall is None or ask.budget <= 0 or not kept:
            return Recalled(budget=ask.budget), None
        found = await scene.recall.recall(_query(ask))
        chosen, left_out, used = await self._fit(scene.fmt, found, ask.budget)
        key = (scene.scene_id, ask.view)
        start, last = kept[0].seq, kept[-1].seq
        previous = self.layouts.get(key) if ask.before_seq is None else None
        if previous is not None and await _still(scene, previous, (start, last), chosen, found):
            depth = sum(1 for t in kept if t.seq > previous.after_seq)
            recalled = Recalled(
                found.words, previous.placed, (), ask.budget, previous.used, kept=True, depth=depth
            )
            return recalled, memories_insert(previous.placed, depth)
        if ask.before_seq is None:
            self.layouts.put(key, _Block(start, last, _oldest_first(chosen), used))
        recalled = Recalled(found.words, _oldest_first(chosen), tuple(left_out), ask.budget, used)
        return recalled, memories_insert(chosen, 0) if chosen else None

    async def _fit(
        self, fmt: PromptFormat, found: RecallFound, budget: int
    ) -> tuple[list[Memory], list[Memory], int]:
        """The memories that fit `budget` (in the order found), those left out, tokens used."""
        fitting = [m for m in found.memories if len(memory_line(m)) <= budget * CHARS_PER_TOKEN_MAX]
        left_out = [m for m in found.memories if m not in fitting]
        if not fitting:
            return [], left_out, 0
        blocks = [fmt.separator + fmt.lore_block(memories_insert((), 0))]
        blocks += [Prompt.plain(f"\n{memory_line(m)}") for m in fitting]
        empty, *sizes = await self.counter.counts(blocks)
        chosen: list[Memory] = []
        used = empty
        for memory, size in zip(fitting, sizes, strict=True):
            if used + size <= budget:
                chosen.append(memory)
                used += size
            else:
                left_out.append(memory)
        # Tokens may merge across lines: the block as it will be rendered is what counts.
        while chosen:
            insert = memories_insert(chosen, 0)
            (used,) = await self.counter.counts([fmt.separator + fmt.lore_block(insert)])
            if used <= budget:
                return chosen, left_out, used
            left_out.append(chosen.pop())
        return [], left_out, 0


def _query(ask: RecallAsk) -> RecallQuery:
    """The recall query of a prompt: the newest turns of its window, the speaker's sheet."""
    scene = ask.scene
    recent = [t.content for t in ask.kept if not is_ooc(t.content)][-RECENT_TURNS:]
    folded = ask.speaker.casefold()
    persona = next((p for p in scene.context.npcs if p.name.casefold() == folded), None)
    return RecallQuery(
        scene_id=scene.scene_id,
        witness=ask.view,
        speaker=ask.speaker,
        sheet=persona.as_read_by_owner().sheet if persona else "",
        recent=tuple(recent),
        before_seq=ask.kept[0].seq,
        own_story=ask.view is not None and ask.view in scene.stories,
    )


async def _still(
    scene: SceneView,
    block: _Block,
    window: tuple[int, int],
    chosen: Sequence[Memory],
    found: RecallFound,
) -> bool:
    """Whether the last block may stay: the same window, nothing new, all of it still there.

    Still there means neither deleted nor edited since: found again by this search, or else
    vouched for by the source. A deleted or edited turn never stays in a prompt.
    """
    start, last = window
    if block.start_seq != start or not start <= block.after_seq <= last:
        return False
    placed = {m.key for m in block.placed}
    if not {m.key for m in chosen} <= placed:
        return False
    again = {m.key for m in found.memories}
    unseen = [m for m in block.placed if m.key not in again]
    return not unseen or (scene.recall is not None and await scene.recall.unchanged(unseen))


def _oldest_first(memories: Sequence[Memory]) -> tuple[Memory, ...]:
    return tuple(sorted(memories, key=lambda m: (m.seq, m.chapter is False)))
