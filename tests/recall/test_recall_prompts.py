"""The Memories block counted with the demo model's tokenizer: its budget, and the prefix cache.

Real SQLite stores, the demo model's tokenizer behind a 2,048-token context, the director's real
prompts.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.director import SceneView
from bot.director.budget import TokenCounter
from bot.director.memories import HEADING, Memories, RecallAsk, memories_insert
from bot.director.types import Memory, RecallFound, RecallQuery
from bot.domain import PromptContext
from bot.engine.llama import LlamaEngine
from bot.prompts import Prompt, get_format
from bot.store import Database
from bot.store.turn_reads import TurnLine
from tests.prompts.test_injection import vocab as vocab  # the demo model's tokenizer
from tests.recall.helpers import (
    BELL,
    FACT,
    QUESTION,
    bulk_turns,
    campaign,
    director,
    filler,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]


@pytest.mark.parametrize("budget", [48, 96])
async def test_the_memories_block_stays_within_its_budget(
    db: Database, vocab: LlamaEngine, budget: int
) -> None:
    game = await campaign(db)
    for n in range(30):  # many matches, each about as good as the next
        await game.say("Rook", f"The silver key number {n} hangs in the cellar of house {n}.")
    await bulk_turns(db, game.scene_id, filler(1000))
    await game.say("Rook", QUESTION)
    fmt_view = await game.view(budget)
    plan = await director(game, vocab).build_prompt(fmt_view, "Mara")
    recalled = plan.recall
    assert recalled.budget == budget and recalled.placed and recalled.left_out
    block = fmt_view.fmt.separator + fmt_view.fmt.lore_block(memories_insert(recalled.placed, 0))
    (tokens,) = await vocab.count_many([block])
    assert tokens == recalled.used <= budget
    # The prompt holds exactly the block it counted, once.
    assert plan.rendered.prompt.text.count(HEADING) == 1
    assert block.text in plan.rendered.prompt.text


async def test_the_prefix_stays_while_nothing_new_is_recalled(
    db: Database, vocab: LlamaEngine
) -> None:
    game = await campaign(db)
    await game.say("Rook", FACT)
    await game.say("Rook", BELL)
    await bulk_turns(db, game.scene_id, filler(1000))
    await game.say("Rook", QUESTION)
    await game.say("Mara", "Let me think.")
    turns = director(game, vocab)
    view = await game.view()
    first = await turns.build_prompt(view, "Mara")
    assert first.recall.placed and not first.recall.kept
    await game.say("Rook", "Hmm?")  # no telling word: nothing new to recall
    second = await turns.build_prompt(view, "Mara")
    assert second.history[0].seq == first.history[0].seq  # the window did not move
    assert second.recall.kept and second.recall.placed == first.recall.placed
    assert second.recall.depth == 1
    # The whole first prompt, Memories included, is the second one's prefix.
    rendered = first.rendered
    assert second.rendered.text.startswith(
        Prompt.join(rendered.separator, (rendered.system, *rendered.turns)).text
    )
    # Something new recalled: a new block after the newest turn; all before the old block
    # stays as it was.
    await game.say("Rook", "And who rang the chapel bell at midnight?")
    third = await turns.build_prompt(view, "Mara")
    assert third.history[0].seq == first.history[0].seq
    assert not third.recall.kept and any("chapel bell" in m.text for m in third.recall.placed)
    cut = first.rendered.text.index("Let me think.")  # the newest turn before the old block
    assert third.rendered.text[:cut] == first.rendered.text[:cut]
    assert third.rendered.text.count(HEADING) == 1


class _Found:
    """A recall source that finds the same memories every time (the fitting is under test)."""

    budget = 64

    def __init__(self, memories: tuple[Memory, ...]) -> None:
        self.memories = memories

    async def recall(self, query: RecallQuery) -> RecallFound:
        return RecallFound(("key",), self.memories)

    async def unchanged(self, memories: Sequence[Memory]) -> bool:
        return True


async def test_a_memory_too_long_for_the_budget_leaves_room_for_shorter_ones(
    vocab: LlamaEngine,
) -> None:
    long = Memory(5, "Rook", "The key, the key. " * 40, 9.0, ("key",), ref=5)
    short = [Memory(n, "Rook", f"Key {n} is brass.", 5.0 - n, ("key",), ref=n) for n in (1, 2)]
    scene = SceneView(
        scene_id=1,
        channel_key="1",
        fmt=get_format("chatml"),
        context=PromptContext(players=(), npcs=()),
        npcs=(),
        recall=_Found((long, *short)),
    )
    window = [TurnLine(10, 10, "user", "Rook", "Where is the key?")]
    memories = Memories(TokenCounter(vocab.count_many))
    recalled, block = await memories.recall(RecallAsk(scene, 7, "Mara", window, 64, None))
    # The best match does not fit at all: the next ones still do, oldest first.
    assert recalled.placed == tuple(short) and recalled.left_out == (long,)
    assert block is not None and block.depth == 0 and "Key 1 is brass." in block.text
