"""Talkativeness weighs the model's choice of speaker: 0 is never chosen unprompted, 25 less."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bot.director.talkativeness import draw, weigh
from bot.director.types import CastMember
from bot.domain import Voice
from bot.store import Database
from tests.director.table_scene import table
from tests.scripted_engine import ScriptedEngine

# 200 rounds of the director's choice each: the database is not what these tests are about.
pytestmark = pytest.mark.sqlite_only

ROUNDS = 200
NAMES = ["Marta Vell:", "Old Tobin:", "Sergeant Hale:"]


def _chooser(seed: int, names: list[str]) -> list[str]:
    """A seeded scripted chooser: the model's picks, uniform over `names`."""
    rng = random.Random(seed)
    return [rng.choice(names) for _ in range(4 * ROUNDS)]


async def _rounds(db: Database, engine: ScriptedEngine, *muted: str, **voices: Voice) -> Counter:
    """Who speaks over `ROUNDS` one-turn rounds, each after a player's post."""
    t = await table(db, engine, max_replies=1)
    view = await t.view(*muted, **voices)
    spoke: Counter[str] = Counter()
    for _ in range(ROUNDS):
        await t.post("Well?")
        result = await t.director.run_round(view)
        spoke.update(x.speaker for x in result.turns)
    return spoke


async def test_talkativeness_weighs_the_choice_0_never_and_25_less_than_100(
    db: Database,
) -> None:
    # A seeded chooser names each NPC a third of the time: Old Tobin (0) is never offered (his
    # picks are refused and asked again), Marta (25) keeps a quarter of her picks, Hale (100)
    # all of his and the rest of Marta's.
    engine = ScriptedEngine(speakers=_chooser(5, NAMES))
    voices = {"old": 0, "marta": 25, "sergeant": 100}
    spoke = await _rounds(db, engine, **{k: Voice(talkativeness=v) for k, v in voices.items()})
    assert sum(spoke.values()) == ROUNDS
    assert "Old Tobin" not in spoke
    assert all("Old Tobin:" not in r.choices for r in engine.of_kind("speaker"))
    # Marta is picked about as often as Hale (more, with Tobin's refused picks falling back to
    # her) but speaks far less: about 35 of 200 rounds expected.
    assert 0 < spoke["Marta Vell"] < spoke["Sergeant Hale"] / 2


async def test_a_lone_npc_of_talkativeness_0_stays_silent_unless_forced(db: Database) -> None:
    engine = ScriptedEngine(texts=["Hm."])
    t = await table(db, engine)
    view = await t.view("Marta Vell", "Sergeant Hale", old=Voice(talkativeness=0))
    result = await t.director.run_round(view, may_pass=True)
    assert result.turns == [] and result.ended == "muted" and engine.requests == []
    forced = await t.director.run_round(view, forced="Old Tobin")
    assert [x.speaker for x in forced.turns] == ["Old Tobin"]


async def test_an_even_cast_leaves_the_model_s_choice_alone(db: Database) -> None:
    # Everyone at the default: the weighing never overrides what the model chose.
    picks = _chooser(9, NAMES)[:30]
    spoke = []
    engine = ScriptedEngine(speakers=picks)
    t = await table(db, engine, max_replies=1)
    view = await t.view()
    for _ in picks:
        await t.post("Well?")  # after a player's post all three are offered
        spoke += [x.speaker for x in (await t.director.run_round(view)).turns]
    assert spoke == [p.removesuffix(":") for p in picks]


def test_a_seeded_draw_repeats_and_an_unseeded_one_does_not() -> None:
    quiet = CastMember("Marta Vell", voice=Voice(talkativeness=25))
    loud = CastMember("Sergeant Hale", voice=Voice(talkativeness=100))
    runs = [[weigh(quiet, [quiet, loud], draw(7, 1, seq)).name for seq in range(50)] for _ in "ab"]
    assert runs[0] == runs[1] and len(set(runs[0])) == 2
    assert draw(-1, 1, 1).random() != draw(-1, 1, 1).random()
    assert draw(7, 1, 1).random() != draw(7, 1, 2).random()  # the scene's position counts
    # The most talkative candidate's pick always stands; nobody else talking: the pick stands.
    assert all(weigh(loud, [quiet, loud], draw(7, 1, s)) is loud for s in range(50))
    silent = CastMember("Old Tobin", voice=Voice(talkativeness=0))
    assert all(weigh(quiet, [quiet, silent], draw(7, 1, s)) is quiet for s in range(50))
    assert weigh(silent, [silent], draw(7, 1, 1)) is silent
