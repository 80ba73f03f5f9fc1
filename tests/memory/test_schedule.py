"""When the story so far is written: after a posted round, in the background, one at a time."""

from __future__ import annotations

from bot.channel.sessions import Trigger
from bot.memory.service import MemoryCommands
from bot.scenes.service import SceneCommands
from bot.store import Database, StorySummary
from tests.channel.helpers import CHANNEL, OTHER_CHANNEL, Tavern, gm, within_guard
from tests.memory.helpers import SummaryEngine, is_summary, long_scene


async def held_summary(db: Database) -> tuple[Tavern, SummaryEngine, int]:
    """A round has run and its summary is generating until it is cancelled."""
    tavern, engine, scene_id = await long_scene(db)
    engine.hold = True
    tavern.services.sessions.trigger(CHANNEL, Trigger())
    await within_guard(engine.held.wait())
    return tavern, engine, scene_id


async def test_a_round_is_followed_by_summaries_of_the_turns_that_left_the_window(
    db: Database,
) -> None:
    tavern, engine, scene_id = await long_scene(db)
    sessions = tavern.services.sessions
    sessions.trigger(CHANNEL, Trigger())
    await within_guard(sessions.wait_idle(CHANNEL))
    assert tavern.poster.posts, "the round posted first"
    first_summary = next(i for i, r in enumerate(engine.requests) if is_summary(r))
    assert all(not is_summary(r) for r in engine.requests[:first_summary])
    summary = await tavern.stores.summaries.get(scene_id)
    assert summary is not None and summary.text.startswith("Earlier, Summary")
    # Covered turns stay out of the prompt; the summary is in it, right after the system block.
    plan = await tavern.services.get(SceneCommands).director.build_prompt(
        await tavern.services.get(SceneCommands).views.view(
            await tavern.stores.scenes.get(scene_id)
        )
    )
    assert plan.history[0].seq > summary.through
    assert plan.rendered.turns[0].text == f"[INST]user\nStory so far: {summary.text}[/INST]"
    # Nothing left uncovered but fewer turns than one coarse step.
    uncovered = await tavern.stores.turns.lines_after(
        scene_id, summary.through, 99, before_seq=plan.history[0].seq
    )
    assert len(uncovered) < 16
    assert engine.most_at_once == 1


async def test_a_player_message_cancels_the_summary_and_nothing_is_stored(db: Database) -> None:
    tavern, engine, scene_id = await held_summary(db)
    sessions = tavern.services.sessions
    posted = len(tavern.poster.posts)
    engine.hold = False  # the summaries after the next round may finish
    sessions.trigger(CHANNEL, Trigger())  # a player wrote: the summary stops at once
    await within_guard(sessions.wait_idle(CHANNEL))
    assert len(tavern.poster.posts) > posted, "the next round ran"
    texts = [r.prompt.text for r in engine.requests]
    cancelled_at = texts.index(next(t for t in texts if "New events:" in t))
    assert not is_summary(engine.requests[cancelled_at + 1]), "the round came before a retry"
    summary = await tavern.stores.summaries.get(scene_id)
    assert summary is not None and summary.text != "Half a summ"
    assert engine.most_at_once == 1


async def test_a_halt_stops_the_summary(db: Database) -> None:
    tavern, _engine, scene_id = await held_summary(db)
    sessions = tavern.services.sessions
    await within_guard(tavern.services.get(SceneCommands).end(gm()))
    await within_guard(sessions.wait_idle(CHANNEL))
    assert await tavern.stores.summaries.get(scene_id) is None


async def test_a_summary_never_holds_another_channel(db: Database) -> None:
    tavern, engine, _ = await held_summary(db)
    sessions = tavern.services.sessions
    other = sessions.get(OTHER_CHANNEL)
    async with other.lock:  # free at once: only CHANNEL's session is held
        assert sessions.get(CHANNEL).chore is not None
    sessions.trigger(CHANNEL, Trigger())
    engine.hold = False
    await within_guard(sessions.wait_idle())


async def test_a_gm_edit_during_a_summary_wins(db: Database) -> None:
    tavern, _engine, scene_id = await held_summary(db)
    sessions = tavern.services.sessions
    await tavern.services.get(MemoryCommands).edit(gm(), "The GM's version.")
    sessions.get(CHANNEL).halt()
    await within_guard(sessions.wait_idle(CHANNEL))
    summary = await tavern.stores.summaries.get(scene_id)
    assert summary is not None and summary.text == "The GM's version."
    assert isinstance(summary, StorySummary) and summary.through > 0
