"""No card, lorebook or scene file stalls the event loop: every channel keeps running.

The loop is watched by a ticker task (`stall_monitor`) while the worst cases run: prompts of a
scene whose NPC card and server books hold thousands of backtracking regex keys and tens of
thousands of phrases (stored before the caps existed, so the caps are lifted here and only the
time budget and the worker threads stand in the way), and the imports that refuse such files.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bench.stall import stall_monitor
from bot.characters.cards import CardError
from bot.characters.drafts import draft_from_card_async
from bot.director import TurnDirector
from bot.domain import Sampler
from bot.errors import UserError
from bot.lore import Lorebook, LoreConfig, LoreEntry, LoreLimits
from bot.lore.service import LoreCommands
from bot.scenes.lore import SceneLoreSources
from bot.scenes.scene_file import SceneFileError, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.channel.helpers import build, gm
from tests.lore.hostile import (
    BACKTRACKING_TURN,
    backtracking_key,
    hostile_card,
    hostile_world_info,
)
from tests.scripted_engine import ScriptedEngine

STALL_LIMIT = 0.1  # seconds: the longest the loop may go without running other channels
# Generous budgets: this much lore work run on the loop would stall it well past the limit.
CONFIG = LoreConfig(scan_budget_ms=400, book_budget_ms=150, sticky=32)
LIFTED = LoreLimits(regex_keys=100_000, keys_per_book=1_000_000)


def _phrase_book() -> Lorebook:
    """20,000 phrases, each starting with a word every turn has, on entries sticky for long."""
    return Lorebook(
        entries=tuple(
            LoreEntry(
                keys=tuple(f"the word{i}x{j}" for j in range(100)),
                content=f"Entry {i}.",
                extensions={"sticky": 32, "cooldown": 3},
            )
            for i in range(200)
        ),
        name="Phrases",
    )


def _trap_book() -> Lorebook:
    """A World Info file's worth of 2,000 backtracking keys (100 to an entry, the most allowed)."""
    return Lorebook(
        entries=tuple(
            LoreEntry(keys=tuple(backtracking_key(100 * i + j) for j in range(100)), content="T.")
            for i in range(20)
        ),
        name="Traps",
    )


@pytest.fixture(autouse=True)
def settled_heap() -> Iterator[None]:
    """The heap so far (modules, fixtures, the database layer) kept out of garbage collections.

    A full collection holds every thread for as long as the whole heap takes to walk, whatever
    triggered it; on a loaded machine the test process's own heap alone can take 100 ms. Frozen,
    the collections the block triggers walk what the block made: the lore, prompts and rows.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def test_hostile_books_in_a_scene_never_stall_the_loop(db: Database) -> None:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=3, format="chatml")
    mallory = await stores.characters.create(
        guild_id=1, kind="npc", name="Mallory", sheet="s", card_json=hostile_card(2000)
    )
    await stores.scenes.add_cast(scene.id, mallory.id)
    for book in (_trap_book(), _phrase_book()):
        await stores.lore.attach(scene.id, (await stores.lore.save_book(1, book)).id)
    for i in range(40):
        text = BACKTRACKING_TURN if i % 2 else "Rook: " + "the fog " * 200
        await stores.turns.append(scene.id, role="user", speaker="Rook", content=text)
    views = SceneViews(stores, Sampler(seed=1), SceneLoreSources(stores, CONFIG, LIFTED))
    director = TurnDirector(ScriptedEngine(), stores.turns)

    async with stall_monitor(STALL_LIMIT) as stalls:
        for _ in range(3):  # the first prompt compiles the books too
            plan = await director.build_prompt(await views.view(scene))

    assert stalls.over == [], stalls
    late = {u.book for u in plan.lore.unevaluated}
    assert {"Mallory's book", "Traps"} <= late
    assert len(plan.lore.unevaluated) >= 2020  # the card's 2,000 and the 20 traps


async def test_refusing_hostile_cards_and_lorebooks_never_stalls_the_loop(db: Database) -> None:
    card = json.dumps(hostile_card(2000)).encode()
    traps = hostile_world_info(2000)
    lore = build(db).services.get(LoreCommands)

    async with stall_monitor(STALL_LIMIT) as stalls:
        with pytest.raises(CardError, match="too many regex keys"):
            await draft_from_card_async(card, "mallory.json")
        with pytest.raises(UserError, match="too many regex keys"):
            await lore.import_book(gm(), "traps.json", traps)

    assert stalls.over == [], stalls


async def test_a_scene_file_of_backtracking_lore_is_refused_at_load_without_a_stall(
    tmp_path: Path,
) -> None:
    # A scene file's own [[lore]] tables obey the same caps as an imported book, at load: the
    # refusal reads the keys' count, it never compiles or runs one of them.
    tables = "".join(
        '[[lore]]\nkeys = [{}]\ncontent = "Trap {}."\n'.format(
            ", ".join(f'"{backtracking_key(100 * i + j)}"' for j in range(100)), i
        )
        for i in range(20)
    )
    path = tmp_path / "traps.toml"
    path.write_text(
        f'[[npcs]]\nname = "Marta"\n[[turns]]\nspeaker = "Marta"\ntext = "{"x" * 40}"\n{tables}'
    )

    async with stall_monitor(STALL_LIMIT) as stalls:
        with pytest.raises(SceneFileError, match="too many regex keys"):
            load_scene_file(path)

    assert stalls.over == [], stalls
