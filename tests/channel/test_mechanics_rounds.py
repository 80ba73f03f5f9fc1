"""Dice and state in rounds, swipes, continues and deletes: the real stores, a scripted engine."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from bot.channel.ports import IncomingMessage
from bot.channel.turn_actions import TurnAction
from bot.dice.mechanics import SceneMechanics
from bot.dice.service import DiceCommands
from bot.domain import DiceRoll
from bot.errors import UserError
from bot.state.rules import Number, Stat
from bot.state.service import StatCommands
from bot.store import Database, StateChange, Turn, TurnRoll
from tests.channel.helpers import ALICE, CHANNEL, GUILD, Tavern, alice, build, gm, marta_scene
from tests.channel.helpers import within_guard as guarded
from tests.dice.rngs import Faces
from tests.scripted_engine import ScriptedEngine

HIT = "Marta swings. [roll 1d20+2 Attack] It lands. [Rook HP -3] Rook staggers."
HIT_SAID = (
    "Marta swings. [roll 1d20+2 Attack: 14 (12 + 2)] It lands. [Rook HP -3: 9/20] Rook staggers."
)
ATTACK = DiceRoll("1d20+2", 14, "12 + 2", "Attack")
LUNGE = "Marta lunges. [roll 1d20+2 Attack] [Rook HP -5] Rook reels."
LUNGE_SAID = "Marta lunges. [roll 1d20+2 Attack: 7 (5 + 2)] [Rook HP -5: 7/20] Rook reels."
MORE = " Then she kicks. [roll 1d6 Kick] [Rook HP -2] He falls."
NOT_SHOWN = "Discord did not take the new text, so the turn keeps its old one."


@dataclass
class Table:
    """Marta's scene, with Alice playing Rook at HP 12/20."""

    tavern: Tavern
    scene_id: int
    rook_id: int

    async def hp(self) -> Stat | None:
        return (await self.tavern.stores.state.current(self.scene_id)).get(self.rook_id, "HP")

    async def round(self) -> Turn:
        """Alice posts; Marta answers. Marta's stored turn."""
        message = IncomingMessage(1, CHANNEL, GUILD, ALICE, "Alice", "Rook draws his knife.")
        await self.tavern.services.play.on_message(message)
        await guarded(self.tavern.services.sessions.wait_idle())
        return await self.turn()

    async def turn(self) -> Turn:
        """The newest turn of the history (Marta's)."""
        turn = await self.tavern.stores.turns.last(self.scene_id)
        assert turn is not None and turn.speaker == "Marta", self.tavern.poster.notices
        return turn

    async def rolls(self, turn: Turn) -> list[DiceRoll]:
        return await self.tavern.stores.state.rolls(turn.id)


async def _table(
    db: Database, *texts: str, faces: Sequence[int] = (), mechanics: bool = True
) -> Table:
    """The table with mechanics on (or off), Marta saying `texts`, the dice showing `faces`."""
    tavern = build(db, engine=ScriptedEngine(texts=texts))
    scene_id = await marta_scene(tavern, mechanics=mechanics)
    rook = await tavern.stores.characters.create(
        guild_id=GUILD, kind="player", name="Rook", owner_id=ALICE, sheet="A sailor."
    )
    await tavern.stores.scenes.bind_player(scene_id, ALICE, rook.id)
    await tavern.services.get(StatCommands).set(gm(), "HP", "12/20", "Rook")
    mechanics_ = tavern.services.deps.mechanics
    assert isinstance(mechanics_, SceneMechanics)
    mechanics_.rng = Faces(faces)  # the dice show what the test says (OS randomness otherwise)
    return Table(tavern, scene_id, rook.id)


async def _rows(db: Database, model: type[TurnRoll] | type[StateChange]) -> int:
    async with db.session() as s:
        return (await s.scalar(select(func.count()).select_from(model))) or 0


def hp(value: int) -> Stat:
    return Stat("HP", Number(value, 20))


async def test_a_rounds_markers_are_rolled_checked_and_stored_with_the_turn(db: Database) -> None:
    table = await _table(db, HIT, faces=[12])
    turn = await table.round()
    assert turn.content == HIT_SAID and not turn.pending
    (post,) = table.tavern.poster.posts
    assert (post[1], post[3]) == ("Marta", HIT_SAID)  # posted with the results in
    assert await table.rolls(turn) == [ATTACK]
    assert await table.hp() == hp(9)
    history = await table.tavern.stores.state.history(table.scene_id, table.rook_id, "HP")
    assert [(e.turn_id, e.speaker) for e in history] == [(None, None), (turn.id, "Marta")]


async def test_a_swipe_rolls_again_from_the_state_before_the_turn(db: Database) -> None:
    table = await _table(db, HIT, LUNGE, faces=[12, 5])
    turn = await table.round()
    reply = await table.tavern.services.turns.swipe(alice(), turn.id)
    assert reply.text == "Swiped Marta's turn (2 versions kept)."
    swiped = await table.turn()
    # -5 from 12/20, not from the 9/20 the first version left.
    assert swiped.content == LUNGE_SAID and swiped.swipe_index == 1
    assert table.tavern.poster.edits[-1][3] == LUNGE_SAID
    assert await table.rolls(swiped) == [DiceRoll("1d20+2", 7, "5 + 2", "Attack")]
    assert await table.hp() == hp(7)
    # Each version keeps its own: selecting the first again brings back its roll and its -3.
    await table.tavern.stores.turns.select_swipe(turn.id, 0)
    assert await table.rolls(turn) == [ATTACK] and await table.hp() == hp(9)
    await table.tavern.stores.turns.select_swipe(turn.id, 1)
    assert await table.hp() == hp(7)
    # A GM's Delete takes the turn, and so its change, out of the story.
    await table.tavern.services.turns.delete(gm(), turn.id)
    assert await table.hp() == hp(12)


async def test_a_continue_keeps_the_turns_rolls_and_adds_its_own(db: Database) -> None:
    table = await _table(db, HIT, MORE, faces=[12, 4])
    turn = await table.round()
    assert (await table.tavern.services.turns.extend(alice(), turn.id)).text == "Marta went on."
    longer = await table.turn()
    # The continue resolves against the state the turn left: 9/20 - 2.
    assert (
        longer.content
        == f"{HIT_SAID} Then she kicks. [roll 1d6 Kick: 4] [Rook HP -2: 7/20] He falls."
    )
    assert await table.rolls(longer) == [ATTACK, DiceRoll("1d6", 4, "4", "Kick")]
    assert await table.hp() == hp(7)
    await table.tavern.services.turns.delete(gm(), turn.id)
    assert await table.hp() == hp(12)


@pytest.mark.parametrize("action", ["swipe", "continue"])
async def test_a_version_discord_did_not_take_is_forgotten(
    db: Database, action: TurnAction
) -> None:
    table = await _table(db, HIT, LUNGE if action == "swipe" else MORE, faces=[12, 5])
    turn = await table.round()
    rolls, changes = await _rows(db, TurnRoll), await _rows(db, StateChange)
    table.tavern.poster.refuse_next_edit = True
    with pytest.raises(UserError, match=f"^{NOT_SHOWN}$"):
        await table.tavern.services.turns.run(alice(), action, turn.id)
    kept = await table.turn()
    assert (kept.content, kept.swipes, kept.swipe_index) == (HIT_SAID, [HIT_SAID], 0)
    assert await table.rolls(kept) == [ATTACK] and await table.hp() == hp(9)
    # Nothing of the version that was never shown is left behind.
    assert (await _rows(db, TurnRoll), await _rows(db, StateChange)) == (rolls, changes)


async def test_with_mechanics_off_a_marker_is_only_text(db: Database) -> None:
    table = await _table(db, HIT, mechanics=False)
    turn = await table.round()
    assert turn.content == HIT
    assert await table.rolls(turn) == [] and await table.hp() == hp(12)
    assert await _rows(db, TurnRoll) == 0 and await _rows(db, StateChange) == 1  # the /stat set
    (request,) = table.tavern.engine.of_kind("text")
    assert "]" not in request.stops and "[Dice and State]" not in request.prompt.text


async def test_a_round_whose_rolls_cannot_be_stored_is_withdrawn(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = await _table(db, HIT, faces=[12])

    async def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(table.tavern.stores.state, "record_turn", refused)
    message = IncomingMessage(1, CHANNEL, GUILD, ALICE, "Alice", "Rook draws his knife.")
    await table.tavern.services.play.on_message(message)
    await guarded(table.tavern.services.sessions.wait_idle())
    poster = table.tavern.poster
    assert poster.posts == [] and poster.notices == [
        "The NPCs could not answer; the log has details."
    ]
    history = await table.tavern.stores.turns.window(table.scene_id, 10)
    assert [t.speaker for t in history] == ["Rook"]
    async with db.session() as s:
        (marta,) = await s.scalars(select(Turn).where(Turn.speaker == "Marta"))
    assert marta.deleted  # withdrawn at once, not left pending for the next start
    assert await table.hp() == hp(12)


async def test_a_change_the_stored_state_no_longer_allows_is_not_kept(db: Database) -> None:
    table = await _table(db, HIT, faces=[12])
    engine = table.tavern.engine
    engine.gate = asyncio.Event()  # Marta's generation waits while the GM acts
    message = IncomingMessage(1, CHANNEL, GUILD, ALICE, "Alice", "Rook draws his knife.")
    await table.tavern.services.play.on_message(message)
    await guarded(engine.started.wait())
    # The round's resolver already read HP 12/20; the GM stops tracking it meanwhile.
    await table.tavern.services.get(StatCommands).remove(gm(), "HP", None, "Rook")
    engine.gate.set()
    await guarded(table.tavern.services.sessions.wait_idle())
    turn = await table.turn()
    assert await table.rolls(turn) == [ATTACK]  # the roll stands
    assert await table.hp() is None  # the -3 was checked again as stored, and dropped
    history = await table.tavern.stores.state.history(table.scene_id, table.rook_id, "HP")
    assert all(entry.turn_id is None for entry in history)


async def test_a_swipes_prompt_shows_the_state_from_before_the_turn(db: Database) -> None:
    table = await _table(db, HIT, LUNGE, faces=[12, 5])
    turn = await table.round()
    engine = table.tavern.engine
    before = len(engine.of_kind("text"))
    await table.tavern.services.turns.swipe(alice(), turn.id)
    swipe_prompt = engine.of_kind("text")[before].prompt.text
    # The status line the new version is written from is the one its dice start from.
    assert "Rook: HP 12/20" in swipe_prompt and "HP 9/20" not in swipe_prompt


async def test_a_private_roll_leaves_the_latest_npc_turn_open_to_swipes(db: Database) -> None:
    table = await _table(db, HIT, LUNGE, faces=[12, 5, 3])
    turn = await table.round()
    await table.tavern.services.get(DiceCommands).roll(alice(), "1d20", "Insight", private=True)
    reply = await table.tavern.services.turns.on_latest(alice(), "swipe")
    assert reply.text == "Swiped Marta's turn (2 versions kept)."
    assert (await table.turn()).id == turn.id
