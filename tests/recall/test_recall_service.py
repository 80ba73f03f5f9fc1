"""`/scene recall` and `/scene prompt as:` for the GM, on the services the bot runs.

Real SQLite and PostgreSQL stores; a scripted engine only to count tokens and to run nothing.
"""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.recall.service import RecallCommands
from bot.scenes.service import SceneCommands
from bot.store import Database
from tests.channel.helpers import alice, build, gm, marta_scene
from tests.recall.helpers import FACT, QUESTION, bulk_turns, filler


async def _tavern(db: Database) -> tuple[RecallCommands, SceneCommands]:
    """Marta's scene: the fact, 1,000 turns of small talk, the question."""
    tavern = build(db)
    scene_id = await marta_scene(tavern)
    await bulk_turns(db, scene_id, [FACT, *filler(1000), QUESTION])
    services = tavern.services
    return services.get(RecallCommands), services.get(SceneCommands)


async def test_a_query_shows_what_comes_back_and_why(db: Database) -> None:
    recall, _ = await _tavern(db)
    reply = await recall.query(gm(), "the silver key", "marta")
    head, first, *_ = reply.text.splitlines()
    assert head.startswith("Recall for Marta, searching for ") and "silver, key" in head
    assert first.startswith("- turn 1, Rook (score ") and "matched silver, key" in first
    assert FACT in first
    # The whole scene's view, for a query with no NPC.
    assert "floorboard" in (await recall.query(gm(), "floorboard")).text


@pytest.mark.parametrize(
    ("who", "text", "npc", "says"),
    [
        (alice, "silver key", None, "Only a GM can do that"),
        (gm, "silver key", "Bosun", "Bosun is not in this scene's cast."),
        (gm, "where is the one you had?", None, "That query has no words to search with"),
        (gm, "zanzibar", None, "No turn of any scene has these words"),
        (gm, "x" * 501, None, "A query is limited to 500 characters."),
    ],
)
async def test_a_query_that_cannot_run_says_why(
    db: Database, who: object, text: str, npc: str | None, says: str
) -> None:
    recall, _ = await _tavern(db)
    with pytest.raises(UserError) as caught:
        await recall.query(who(), text, npc)  # type: ignore[operator]
    assert str(caught.value).startswith(says) and "\n" not in str(caught.value)


async def test_scene_prompt_lists_what_was_recalled(db: Database) -> None:
    _, scenes = await _tavern(db)
    reply = await scenes.prompt(gm(), "Marta")
    assert reply.file is not None and FACT in reply.file[1].decode()
    recall_lines = reply.text.split("\n", 1)[1].splitlines()
    assert recall_lines[0].startswith("Recall: ") and "/256 tokens" in recall_lines[0]
    assert any("floorboard" in line and "matched silver, key" in line for line in recall_lines)
    # The speaker choice's prompt recalls nothing, and says nothing of recall.
    chooser = await scenes.prompt(gm())
    assert "Recall" not in chooser.text and FACT not in chooser.file[1].decode()  # type: ignore[index]
