"""The cache-friendly lore layout: held in the system block, anchored after a turn, or fresh."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import LoreInsert
from bot.lore import CompiledBook, LoreConfig, LoreSource, activate_lore
from bot.lore.placement import LoreActivation
from bot.lore.stable import LoreLayout, LoreLayouts
from tests.lore.helpers import book, words

HARBOR = book(
    {"keys": ["fog"], "content": "Fog hides the Teeth.", "position": "before_char"},
    {"keys": ["ledger"], "content": "The ledger is short.", "position": "after_char"},
    {"keys": ["lamp"], "content": "The lamp is out.", "position": "before_char"},
    {"keys": ["bell"], "content": "The bell tolls.", "position": "at_depth", "depth": 1},
    name="Harbor",
)
SOURCES = (LoreSource(CompiledBook(HARBOR), "Marta"),)


async def fire(
    *turns: str, budget: int = 1000, sources: Sequence[LoreSource] = SOURCES
) -> LoreActivation:
    """What fires after `turns`, with no stickiness so entries stop firing at once."""
    return await activate_lore(
        sources, turns, user="Rook", config=LoreConfig(sticky=0), budget=budget, count_many=words
    )


def whys(lore: LoreActivation) -> dict[str, str]:
    return {e.content: e.why.describe() for e in lore.fired}


async def test_a_fresh_layout_is_the_spec_placement() -> None:
    lore = await fire("Fog and the ledger. The bell!")
    placed = LoreLayout.fresh(SOURCES, lore).placed(lore, [1, 2, 3])
    assert placed.before == ("Fog hides the Teeth.",)
    assert placed.after == ("The ledger is short.",)
    assert placed.inserts == (LoreInsert(1, "system", "The bell tolls."),)
    assert placed.fired == lore.fired


async def test_an_entry_that_starts_firing_is_anchored_after_the_newest_turn() -> None:
    layout = LoreLayout.fresh(SOURCES, await fire("Fog again."))
    lore = await fire("Fog again.", "Check the ledger.")
    following = layout.following(SOURCES, lore, last_seq=5)
    assert following is not None
    now = following.placed(lore, [3, 4, 5])
    assert now.before == ("Fog hides the Teeth.",)
    assert now.after == ()  # not in the system block: that would change the prompt's start
    assert now.inserts == (LoreInsert(0, "system", "The ledger is short."),)
    assert "placed after the turn it began firing on" in whys(now)["The ledger is short."]
    # Two turns later the block is where it was, now two turns from the end.
    later = following.following(SOURCES, await fire("Check the ledger.", "Fog."), last_seq=7)
    assert later is not None
    assert later.placed(lore, [3, 4, 5, 6, 7]).inserts == (
        LoreInsert(2, "system", "The ledger is short."),
    )


async def test_an_entry_that_stops_firing_is_held_until_the_window_moves() -> None:
    layout = LoreLayout.fresh(SOURCES, await fire("Fog and a lamp."))
    quiet = await fire("Nothing here.")
    following = layout.following(SOURCES, quiet, last_seq=9)
    assert following is not None
    placed = following.placed(quiet, [8, 9])
    assert placed.before == ("Fog hides the Teeth.", "The lamp is out.")
    assert whys(placed)["The lamp is out."] == 'held until the window moves (fired by key "lamp")'


async def test_anchors_from_several_turns_are_blocks_of_their_own() -> None:
    layout = LoreLayout.fresh(SOURCES, await fire("Quiet."))
    first = layout.following(SOURCES, await fire("The fog."), last_seq=2)
    assert first is not None
    second = first.following(SOURCES, await fire("The fog.", "A lamp."), last_seq=4)
    assert second is not None
    placed = second.placed(await fire("Quiet."), [1, 2, 3, 4])
    assert placed.inserts == (
        LoreInsert(2, "system", "Fog hides the Teeth."),
        LoreInsert(0, "system", "The lamp is out."),
    )
    # With no window yet (depth 0 for both) the blocks are the same, so their count is too.
    assert [i.text for i in second.placed(await fire("Quiet."), ()).inserts] == [
        i.text for i in placed.inserts
    ]


async def test_a_prompt_before_an_anchor_leaves_it_out() -> None:
    layout = LoreLayout.fresh(SOURCES, await fire("Quiet."))
    anchored = layout.following(SOURCES, await fire("A lamp."), last_seq=6)
    assert anchored is not None
    # A swipe of turn 6 reads the history up to turn 5 only.
    swipe = anchored.following(SOURCES, await fire("Quiet."), last_seq=5)
    assert swipe is not None
    assert swipe.placed(await fire("Quiet."), [4, 5]).inserts == ()


async def test_outgrowing_the_budget_starts_over() -> None:
    layout = LoreLayout.fresh(SOURCES, await fire("Fog and a lamp.", budget=10))
    # Held fog and lamp (5 + 5 tokens) and a new ledger entry (5) exceed 12 tokens.
    assert layout.following(SOURCES, await fire("The ledger.", budget=12), last_seq=3) is None
    assert layout.following(SOURCES, await fire("The ledger.", budget=15), last_seq=3) is not None


async def test_other_books_start_over() -> None:
    other = (LoreSource(CompiledBook(HARBOR), "Marta"),)  # the same book, compiled again
    layout = LoreLayout.fresh(SOURCES, await fire("Fog."))
    assert layout.following(other, await fire("Fog.", sources=other), last_seq=1) is None


async def test_at_depth_entries_keep_their_depth_and_are_never_held() -> None:
    layout = LoreLayout.fresh(SOURCES, await fire("The bell."))
    lore = await fire("The bell rings again.")
    following = layout.following(SOURCES, lore, last_seq=3)
    assert following is not None
    assert following.placed(lore, [1, 2, 3]).inserts == (
        LoreInsert(1, "system", "The bell tolls."),
    )
    quiet = await fire("Silence.")
    silent = following.following(SOURCES, quiet, last_seq=4)
    assert silent is not None
    assert silent.placed(quiet, [1, 2, 3, 4]).inserts == ()


def test_layouts_remember_the_newest_scenes_only() -> None:
    layouts = LoreLayouts(capacity=2)
    layout = LoreLayout(SOURCES, ())
    for scene_id in (1, 2, 1, 3):
        layouts.put(scene_id, layout)
    assert layouts.get(1) is layout and layouts.get(3) is layout
    assert layouts.get(2) is None
