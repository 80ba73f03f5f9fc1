"""/scene pause, resume, mute and unmute: the GM holds the NPCs back without losing a post."""

from __future__ import annotations

import asyncio

import pytest

from bot.channel.addressing import Post
from bot.channel.ports import IncomingMessage
from bot.channel.sessions import Trigger
from bot.errors import UserError
from bot.scenes.service import PAUSED_STATUS, SceneCommands
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    BlockingEngine,
    Tavern,
    WatchedLock,
    alice,
    build,
    first_of,
    gm,
    within_guard,
)
from tests.scripted_engine import ScriptedEngine


def _post(mid: int, text: str) -> IncomingMessage:
    return IncomingMessage(
        message_id=mid,
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id=ALICE,
        author_name="Alice",
        content=text,
        author_is_bot=False,
        webhook_id=None,
    )


async def _table(tavern: Tavern, *npcs: str) -> int:
    """The GM starts a scene in CHANNEL and casts `npcs` (no greetings); the scene's id."""
    scenes = tavern.services.get(SceneCommands)
    await scenes.start(gm(), "group-inst")
    for name in npcs:
        await tavern.stores.characters.create(
            guild_id=GUILD, kind="npc", name=name, sheet=f"**Character Name**: {name}"
        )
        await scenes.add_npc(gm(), name)
    scene = await tavern.stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    return scene.id


async def _says(tavern: Tavern, mid: int, text: str) -> None:
    await tavern.services.play.on_message(_post(mid, text))
    await tavern.services.sessions.wait_idle()


def _posted(tavern: Tavern) -> list[tuple[str, str]]:
    return [(p[1], p[3]) for p in tavern.poster.posts]


@pytest.fixture
def tavern(db: Database) -> Tavern:
    engine = ScriptedEngine(texts=[f"Reply {i}." for i in range(10)])
    return build(db, engine=engine)


# -- pause and resume ------------------------------------------------------------------------


async def test_posts_while_paused_are_stored_and_no_round_runs(tavern: Tavern) -> None:
    scene_id = await _table(tavern, "Marta")
    scenes = tavern.services.get(SceneCommands)
    paused = await scenes.pause(gm())
    assert paused.text.startswith("Scene paused") and not paused.ephemeral
    await _says(tavern, 1, "Hello, Marta?")
    await _says(tavern, 2, "Anyone here?")
    history = [t async for t in tavern.stores.turns.iter_all(scene_id)]
    assert [t.content for t in history] == ["Hello, Marta?", "Anyone here?"]
    assert tavern.services.sessions.rounds_started == 0  # the intake asked for none
    assert tavern.engine.requests == [] and tavern.poster.posts == []
    assert tavern.poster.notices == []
    assert (await scenes.pause(gm())).text == "The scene is already paused."


async def test_a_round_asked_for_while_paused_runs_nothing(tavern: Tavern) -> None:
    """A read-back or the write gate's recovery asks the sessions directly: the round refuses."""
    await _table(tavern, "Marta")
    await tavern.services.get(SceneCommands).pause(gm())
    tavern.services.sessions.trigger(CHANNEL, Trigger("Marta"))
    await tavern.services.sessions.wait_idle()
    assert tavern.services.sessions.rounds_started == 1
    assert tavern.engine.requests == [] and tavern.poster.posts == []
    assert tavern.poster.notices == []


async def test_reply_while_paused_is_refused_in_one_line(tavern: Tavern) -> None:
    await _table(tavern, "Marta")
    await _says(tavern, 1, "Hello.")  # Alice is a player now; Marta answered
    await tavern.services.get(SceneCommands).pause(gm())
    for as_name in (None, "Marta"):
        with pytest.raises(UserError, match="paused") as refused:
            await tavern.services.play.reply(alice(), as_name)
        assert "\n" not in str(refused.value)
    await tavern.services.sessions.wait_idle()
    assert tavern.services.sessions.rounds_started == 1 and _posted(tavern) == [
        ("Marta", "Reply 0.")
    ]


async def test_resume_answers_the_posts_that_came_while_paused_in_one_round(
    tavern: Tavern,
) -> None:
    scene_id = await _table(tavern, "Marta")
    scenes = tavern.services.get(SceneCommands)
    await scenes.pause(gm())
    await _says(tavern, 1, "Hello, Marta?")
    await _says(tavern, 2, "Anyone here?")
    resumed = await scenes.resume(gm())
    assert resumed.text == "Scene resumed: the NPCs answer what was posted meanwhile."
    await tavern.services.sessions.wait_idle()
    assert tavern.services.sessions.rounds_started == 1
    assert _posted(tavern) == [("Marta", "Reply 0.")]
    assert not (await tavern.stores.scenes.get(scene_id)).paused
    assert (await scenes.resume(gm())).text == "The scene is not paused."
    # Running again: the next post asks for its own round.
    await _says(tavern, 3, "Thanks.")
    assert _posted(tavern) == [("Marta", "Reply 0."), ("Marta", "Reply 1.")]


async def test_resume_runs_no_round_when_nothing_waits(tavern: Tavern) -> None:
    await _table(tavern, "Marta")
    scenes = tavern.services.get(SceneCommands)
    await _says(tavern, 1, "Hello.")  # answered before the pause
    await scenes.pause(gm())
    assert (await scenes.resume(gm())).text == "Scene resumed."
    await scenes.pause(gm())
    await _says(tavern, 2, "(( brb ))")  # out of character asks for no round
    assert (await scenes.resume(gm())).text == "Scene resumed."
    await tavern.services.sessions.wait_idle()
    assert tavern.services.sessions.rounds_started == 1
    assert _posted(tavern) == [("Marta", "Reply 0.")]


async def test_resume_keeps_a_name_said_while_paused(tavern: Tavern) -> None:
    await _table(tavern, "Marta", "Rook")
    scenes = tavern.services.get(SceneCommands)
    await scenes.pause(gm())
    await _says(tavern, 1, "Rook, over here!")
    await _says(tavern, 2, "Quickly.")
    await scenes.resume(gm())
    await tavern.services.sessions.wait_idle()
    assert _posted(tavern)[0][0] == "Rook"  # unforced, the scripted chooser takes Marta
    assert tavern.engine.of_kind("speaker") == []


async def test_a_post_read_before_resume_still_asks_for_its_round(tavern: Tavern) -> None:
    """The intake read the scene while it was paused; resume came before the post was stored."""
    await _table(tavern, "Marta")
    scenes = tavern.services.get(SceneCommands)
    await scenes.pause(gm())
    stale = await tavern.stores.scenes.by_channel(CHANNEL)
    assert stale is not None and stale.paused
    await scenes.resume(gm())
    asked = await tavern.services.play.trigger_for(stale, Post("Hello?", "Ann"), human=True)
    assert asked is not None


async def test_pausing_stops_a_running_round_and_keeps_nothing_of_it(db: Database) -> None:
    engine = BlockingEngine()
    tavern = build(db, engine=engine)
    scene_id = await _table(tavern, "Marta")
    await _says(tavern, 1, "Hello, Marta.")  # answered before the pause
    before = [t.content async for t in tavern.stores.turns.iter_all(scene_id)]
    posts = list(tavern.poster.posts)
    lock = tavern.services.sessions.get(CHANNEL).lock = WatchedLock()
    engine.block = True
    engine.release.clear()
    await tavern.services.play.reply(alice(), None)
    await within_guard(engine.blocked.wait())
    round_task = tavern.services.sessions.get(CHANNEL).task
    assert round_task is not None

    pausing = asyncio.create_task(tavern.services.get(SceneCommands).pause(gm()))
    await first_of(pausing, lock.someone_waits.wait())
    assert engine.woken.is_set() and not pausing.done()  # the round was told to stop
    engine.release.set()
    reply = await within_guard(pausing)

    assert reply.text.startswith("Scene paused") and round_task.done()
    history = tavern.stores.turns.iter_all(scene_id, include_deleted=True)
    assert [t.content async for t in history] == before == ["Hello, Marta.", "..."]
    assert tavern.poster.posts == posts and tavern.poster.notices == []
    assert (await tavern.stores.scenes.get(scene_id)).paused


async def test_only_gms_pause_resume_and_mute(tavern: Tavern) -> None:
    scene_id = await _table(tavern, "Marta")
    scenes = tavern.services.get(SceneCommands)
    for attempt in (
        scenes.pause(alice()),
        scenes.resume(alice()),
        scenes.mute(alice(), "Marta", True),
        scenes.mute(alice(), "Marta", False),
    ):
        with pytest.raises(UserError, match="Only a GM"):
            await attempt
    assert not (await tavern.stores.scenes.get(scene_id)).paused
    assert [m for _, m in await tavern.stores.scenes.cast_muted(scene_id)] == [False]


# -- mute ------------------------------------------------------------------------------------


async def test_a_muted_npc_stays_silent_unless_named(tavern: Tavern) -> None:
    await _table(tavern, "Marta", "Rook")
    scenes = tavern.services.get(SceneCommands)
    muted = await scenes.mute(gm(), "marta", True)
    assert muted.text == "**Marta** is muted: present, but speaks only when named."
    assert muted.ephemeral
    await _says(tavern, 1, "Hello?")
    await _says(tavern, 2, "Marta, what do you think?")
    await tavern.services.play.reply(gm(), "Marta")
    await tavern.services.sessions.wait_idle()
    assert [speaker for speaker, _ in _posted(tavern)] == ["Rook", "Marta", "Marta"]
    assert (await scenes.mute(gm(), "Marta", True)).text == "**Marta** is already muted."
    unmuted = await scenes.mute(gm(), "Marta", False)
    assert unmuted.text.startswith("**Marta** is unmuted")


async def test_when_every_npc_is_muted_posts_get_no_answer_and_reply_says_why(
    tavern: Tavern,
) -> None:
    await _table(tavern, "Marta")
    await tavern.services.get(SceneCommands).mute(gm(), "Marta", True)
    await _says(tavern, 1, "Hello?")
    assert tavern.services.sessions.rounds_started == 1
    assert tavern.poster.posts == [] and tavern.poster.notices == []  # nothing, not a notice
    with pytest.raises(UserError, match="muted") as refused:
        await tavern.services.play.reply(alice(), None)
    assert "\n" not in str(refused.value)
    await tavern.services.play.reply(alice(), "Marta")
    await tavern.services.sessions.wait_idle()
    assert _posted(tavern) == [("Marta", "Reply 0.")]


async def test_muting_a_name_not_in_the_cast_is_one_line(tavern: Tavern) -> None:
    await _table(tavern, "Marta")
    await tavern.stores.characters.create(
        guild_id=GUILD, kind="npc", name="Rook", sheet="**Character Name**: Rook"
    )
    scenes = tavern.services.get(SceneCommands)
    for name in ("Rook", "Nobody"):  # an NPC of the server outside the cast; no NPC at all
        for muted in (True, False):
            with pytest.raises(UserError) as refused:
                await scenes.mute(gm(), name, muted)
            assert str(refused.value) == f"{name} is not in this scene's cast."


async def test_status_says_paused_and_lists_the_muted(tavern: Tavern) -> None:
    await _table(tavern, "Marta", "Rook", "Tobin")
    scenes = tavern.services.get(SceneCommands)
    before = (await scenes.status(gm())).text
    assert "Paused" not in before and "Muted" not in before
    await scenes.pause(gm())
    await scenes.mute(gm(), "Rook", True)
    await scenes.mute(gm(), "Tobin", True)
    lines = (await scenes.status(gm())).text.splitlines()
    assert lines[0] == PAUSED_STATUS
    assert "**Cast** Marta, Rook, Tobin" in lines
    assert "**Muted** Rook, Tobin (they speak only when named)" in lines
    await scenes.resume(gm())
    await scenes.mute(gm(), "Tobin", False)
    lines = (await scenes.status(gm())).text.splitlines()
    assert PAUSED_STATUS not in lines
    assert "**Muted** Rook (they speak only when named)" in lines


async def test_starting_an_ended_scene_again_unpauses_it_and_keeps_the_mutes(
    tavern: Tavern,
) -> None:
    scene_id = await _table(tavern, "Marta", "Rook")
    scenes = tavern.services.get(SceneCommands)
    await scenes.pause(gm())
    await scenes.mute(gm(), "Rook", True)
    await scenes.end(gm())
    await scenes.start(gm(), None)
    assert not (await tavern.stores.scenes.get(scene_id)).paused
    assert [m for _, m in await tavern.stores.scenes.cast_muted(scene_id)] == [False, True]
