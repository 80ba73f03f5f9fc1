"""`/roll` through the real services: stored as a turn with its roll, posted, answered; private."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.dice.limits import REASON_MAX_CHARS
from bot.dice.service import DiceCommands
from bot.domain import DiceRoll
from bot.errors import UserError
from bot.scenes.service import SceneCommands
from bot.store import Database, Turn, TurnRoll
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    OTHER_CHANNEL,
    Tavern,
    alice,
    bob,
    build,
    gm,
    marta_scene,
    stranger,
    within_guard,
)
from tests.scripted_engine import ScriptedEngine

ANSWER = "Marta watches the dice settle."
ROOK_STEALTH = re.compile(r"^Rook rolls 1d20\+5 for Stealth: (\d+) \((\d+) \+ 5\)$")
NO_SCENE = "There is no scene in this channel. A GM can start one with /scene start."


async def _table(db: Database) -> tuple[Tavern, DiceCommands, int]:
    """Marta's scene; Alice plays Rook there, Bob has no character."""
    tavern = build(db, engine=ScriptedEngine(texts=[ANSWER, "Marta shrugs."]))
    scene_id = await marta_scene(tavern)
    rook = await tavern.stores.characters.create(
        guild_id=GUILD, kind="player", name="Rook", owner_id=ALICE, sheet="A sailor."
    )
    await tavern.stores.scenes.bind_player(scene_id, ALICE, rook.id)
    return tavern, tavern.services.get(DiceCommands), scene_id


async def _count(db: Database, model: type[Turn] | type[TurnRoll]) -> int:
    """Rows of a table, pending and deleted turns included."""
    async with db.session() as s:
        return (await s.scalar(select(func.count()).select_from(model))) or 0


def _prompts(tavern: Tavern) -> list[str]:
    return [r.prompt.text for r in tavern.engine.of_kind("text")]


async def test_a_roll_is_posted_under_the_character_stored_and_answered(db: Database) -> None:
    tavern, dice, scene_id = await _table(db)
    reply = await dice.roll(alice(), "1d20+5", "  Stealth ")
    poster = tavern.poster
    ((channel, speaker, _, line, ids),) = poster.posts
    found = ROOK_STEALTH.fullmatch(line)
    assert found is not None and (channel, speaker) == (CHANNEL, "Rook")
    total, die = int(found[1]), int(found[2])
    assert total == die + 5 and 1 <= die <= 20
    assert reply.text == f"Rolled: {total}." and reply.ephemeral

    turn = await tavern.stores.turns.by_message_id(ids[0])
    assert turn is not None and not turn.pending and not turn.private
    assert (turn.kind, turn.role, turn.speaker, turn.content) == ("roll", "user", "Rook", line)
    assert turn.author_id == ALICE and turn.character_id is not None
    rolls = await tavern.stores.state.rolls(turn.id)
    assert rolls == [DiceRoll("1d20+5", total, f"{die} + 5", "Stealth")]

    # A roll is acting: the NPCs answer it, having read it.
    await within_guard(tavern.services.sessions.wait_idle())
    assert [(p[1], p[3]) for p in poster.posts[1:]] == [("Marta", ANSWER)]
    assert line in _prompts(tavern)[-1]
    assert [t.content for t in await tavern.stores.turns.window(scene_id, 5)] == [line, ANSWER]


async def test_someone_without_a_character_rolls_under_their_name(db: Database) -> None:
    tavern, dice, _ = await _table(db)
    await dice.roll(bob(), "2d6")
    ((_, speaker, _, line, ids),) = tavern.poster.posts
    assert speaker == "Bob" and re.fullmatch(r"Bob rolls 2d6: \d+ \(\[\d, \d\]\)", line)
    turn = await tavern.stores.turns.by_message_id(ids[0])
    assert turn is not None and turn.character_id is None and turn.speaker == "Bob"
    (rolled,) = await tavern.stores.state.rolls(turn.id)
    assert rolled.expr == "2d6" and rolled.reason is None and 2 <= rolled.total <= 12
    await within_guard(tavern.services.sessions.wait_idle())


@pytest.mark.parametrize("expr", ["banana", "1d0", "d20+", "1000d1000000", ""])
async def test_bad_dice_are_refused_in_one_line_and_nothing_is_kept(
    db: Database, expr: str
) -> None:
    tavern, dice, _ = await _table(db)
    with pytest.raises(UserError) as refused:
        await dice.roll(alice(), expr, "Stealth")
    assert str(refused.value) and "\n" not in str(refused.value)
    assert "Traceback" not in str(refused.value)
    await within_guard(tavern.services.sessions.wait_idle())
    assert tavern.poster.posts == [] and tavern.engine.requests == []
    assert await _count(db, Turn) == 0 and await _count(db, TurnRoll) == 0


async def test_a_reason_over_the_limit_is_refused(db: Database) -> None:
    tavern, dice, _ = await _table(db)
    with pytest.raises(UserError, match=rf"^The reason is limited to {REASON_MAX_CHARS} "):
        await dice.roll(alice(), "1d20", "x" * (REASON_MAX_CHARS + 1))
    assert await _count(db, Turn) == 0 and tavern.poster.posts == []
    # Spaces are tidied before counting: the longest reason allowed, written loosely, is fine.
    loose = "  " + " ".join(["abcd"] * 20) + "  " * 40
    assert len(" ".join(loose.split())) == REASON_MAX_CHARS - 1
    await dice.roll(alice(), "1d20", loose)
    assert tavern.poster.posts[0][3].startswith(f"Rook rolls 1d20 for {' '.join(loose.split())}: ")
    await within_guard(tavern.services.sessions.wait_idle())


async def test_a_private_roll_is_kept_for_the_gm_but_never_shown_or_prompted(
    db: Database,
) -> None:
    tavern, dice, scene_id = await _table(db)
    reply = await dice.roll(alice(), "1d20+5", "Stealth", private=True)
    line, note = reply.text.split("\n")
    assert ROOK_STEALTH.fullmatch(line) and "Private" in note and reply.ephemeral
    await within_guard(tavern.services.sessions.wait_idle())
    assert tavern.poster.posts == [] and tavern.engine.requests == []  # no round for it

    # Out of the shared history (what prompts and the latest-turn buttons read), but stored.
    assert await tavern.stores.turns.window(scene_id, 5) == []
    (kept,) = [turn async for turn in tavern.stores.turns.iter_all(scene_id)]
    assert (kept.private, kept.pending, kept.kind, kept.content) == (True, False, "roll", line)
    assert [r.expr for r in await tavern.stores.state.rolls(kept.id)] == ["1d20+5"]

    # Bob's public roll starts a round: the NPC reads his roll, never Alice's private one.
    await dice.roll(bob(), "1d4", "Luck")
    await within_guard(tavern.services.sessions.wait_idle())
    public = tavern.poster.posts[0][3]
    assert [p[1] for p in tavern.poster.posts] == ["Bob", "Marta"]
    (prompt,) = _prompts(tavern)
    assert public in prompt and line not in prompt and "Stealth" not in prompt

    # The story so far reads the shared lines only; the GM's transcript has it, marked.
    shared = await tavern.stores.turns.lines_after(scene_id, 0, 50)
    assert [t.content for t in shared] == [public, ANSWER]
    every = await tavern.stores.turns.lines_after(scene_id, 0, 50, with_private=True)
    assert [t.content for t in every] == [line, public, ANSWER]
    exported = await tavern.services.get(SceneCommands).export(gm())
    assert exported.file is not None
    text = exported.file[1].decode()
    assert text == f"Rook (private): {line}\n\nBob: {public}\n\nMarta: {ANSWER}\n"


async def test_rolling_where_no_scene_plays_is_refused(db: Database) -> None:
    tavern, dice, _ = await _table(db)
    for who in (stranger(OTHER_CHANNEL), alice(OTHER_CHANNEL)):
        with pytest.raises(UserError) as refused:
            await dice.roll(who, "1d20")
        assert str(refused.value) == NO_SCENE
    assert tavern.poster.posts == [] and await _count(db, TurnRoll) == 0
