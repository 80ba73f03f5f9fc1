"""TurnActions: Swipe, Continue and Delete on an NPC turn, with a scripted engine."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.channel.ports import IncomingMessage
from bot.characters.service import CharacterCommands, CharacterInput
from bot.errors import UserError
from bot.scenes.service import SceneCommands
from bot.store import Database, Scene, Turn
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    OTHER_CHANNEL,
    OTHER_GUILD,
    BlockingEngine,
    RecordingPoster,
    Tavern,
    WatchedLock,
    actor,
    alice,
    bob,
    build,
    first_of,
    gm,
    stranger,
    within_guard,
)
from tests.channel.helpers import (
    STRANGER as STRANGER_ID,
)
from tests.scripted_engine import ScriptedEngine

FIRST, SECOND, THIRD = "Marta smiles at the door.", "Marta frowns.", "and pours a drink."


def _message(mid: int, text: str) -> IncomingMessage:
    return IncomingMessage(
        message_id=mid,
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id=ALICE,
        author_name="Alice",
        content=text,
    )


async def _played(tavern: Tavern, mid: int = 1) -> tuple[Scene, Turn]:
    """A scene where Alice (playing Ayla) spoke and Marta answered; Marta's turn."""
    services, stores = tavern.services, tavern.stores
    if await stores.scenes.by_channel(CHANNEL) is None:
        await services.get(SceneCommands).start(gm(), "group-inst")
        await stores.characters.create(
            guild_id=GUILD,
            kind="npc",
            name="Marta",
            sheet="**Character Name**: Marta",
            avatar_url="https://cdn.example/marta.png",
        )
        await services.get(SceneCommands).add_npc(gm(), "Marta")
        await services.get(CharacterCommands).create(alice(), "player", CharacterInput(name="Ayla"))
    posted = len(tavern.poster.posts)
    await services.play.on_message(_message(mid, "Ayla walks into the inn."))
    await services.sessions.wait_idle()
    assert len(tavern.poster.posts) == posted + 1, tavern.poster.notices
    turn = await stores.turns.by_message_id(tavern.poster.posts[-1][4][-1])
    assert turn is not None and turn.role == "model" and turn.speaker == "Marta"
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    return scene, turn


def _engine(*texts: str) -> ScriptedEngine:
    return ScriptedEngine(texts=texts or (FIRST, SECOND, THIRD))


# -- swipe ---------------------------------------------------------------------------------------


async def test_swipe_keeps_the_old_text_and_reposts_in_place(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    poster, engine = tavern.poster, tavern.engine
    assert turn.content == FIRST and poster.controls == [(5001, turn.id)]
    requests_before = len(engine.requests)

    reply = await tavern.services.turns.swipe(alice(), turn.id)

    assert reply.text == "Swiped Marta's turn (2 versions kept)."
    swiped = await tavern.stores.turns.get(turn.id)
    assert swiped.content == SECOND
    assert swiped.swipes == [FIRST, SECOND] and swiped.swipe_index == 1
    assert swiped.message_ids == [5001] and not swiped.deleted
    assert poster.edits == [(CHANNEL, [5001], "Marta", SECOND)]
    assert len(poster.posts) == 1  # edited in place, nothing new posted
    assert poster.controls[-1] == (5001, turn.id)  # the buttons stay with the turn
    # One generation, from the history before the turn, with a fresh seed.
    (request,) = engine.requests[requests_before:]
    assert "Ayla walks into the inn." in request.prompt.text and FIRST not in request.prompt.text
    assert request.sampler.seed != engine.requests[0].sampler.seed
    assert CHANNEL in poster.typing_channels


async def test_swipe_again_keeps_every_version(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    await tavern.services.turns.swipe(alice(), turn.id)
    reply = await tavern.services.turns.swipe(gm(), turn.id)
    assert reply.text == "Swiped Marta's turn (3 versions kept)."
    swiped = await tavern.stores.turns.get(turn.id)
    assert swiped.swipes == [FIRST, SECOND, THIRD] and swiped.content == THIRD
    assert [e[3] for e in tavern.poster.edits] == [SECOND, THIRD]


class SplittingPoster(RecordingPoster):
    """Edits that need one more message than before (a longer text split in two)."""

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        self.edits.append((channel_id, list(message_ids), speaker, text))
        return [*message_ids, self._new_id()]


async def test_a_longer_swipe_moves_the_buttons_to_its_new_last_message(db: Database) -> None:
    poster = SplittingPoster()
    tavern = build(db, engine=_engine(), poster=poster)
    _, turn = await _played(tavern)
    assert poster.controls == [(5001, turn.id)]

    await tavern.services.turns.swipe(alice(), turn.id)

    swiped = await tavern.stores.turns.get(turn.id)
    assert swiped.message_ids == [5001, 5002]
    found = await tavern.stores.turns.by_message_id(5002)
    assert found is not None and found.id == turn.id
    assert poster.controls == [(5001, turn.id), (5001, None), (5002, turn.id)]
    assert tavern.services.sessions.get(CHANNEL).controls_message_id == 5002


async def test_a_swipe_with_nothing_new_changes_nothing(db: Database) -> None:
    tavern = build(db, engine=_engine(FIRST, "", ""))  # empty twice, even after the retry
    _, turn = await _played(tavern)
    with pytest.raises(UserError, match="Marta had nothing new to say; try again"):
        await tavern.services.turns.swipe(alice(), turn.id)
    kept = await tavern.stores.turns.get(turn.id)
    assert kept.content == FIRST and kept.swipes == [FIRST]
    assert tavern.poster.edits == []


# -- continue ------------------------------------------------------------------------------------


async def test_continue_appends_to_the_turn(db: Database) -> None:
    tavern = build(db, engine=_engine(FIRST, THIRD))
    _, turn = await _played(tavern)
    engine, poster = tavern.engine, tavern.poster
    requests_before = len(engine.requests)

    reply = await tavern.services.turns.extend(alice(), turn.id)

    assert reply.text == "Marta went on."
    longer = await tavern.stores.turns.get(turn.id)
    expected = f"{FIRST} {THIRD}"
    assert longer.content == expected and longer.swipes == [expected]
    assert poster.edits == [(CHANNEL, [5001], "Marta", expected)]
    assert len(poster.posts) == 1 and poster.controls[-1] == (5001, turn.id)
    (request,) = engine.requests[requests_before:]
    assert request.prompt.text.endswith(f" {FIRST}")  # the model picks up where the turn stopped


async def test_continue_with_punctuation_joins_without_a_space(db: Database) -> None:
    tavern = build(db, engine=_engine("Marta nods", ", then sighs."))
    _, turn = await _played(tavern)
    await tavern.services.turns.extend(alice(), turn.id)
    assert (await tavern.stores.turns.get(turn.id)).content == "Marta nods, then sighs."


# -- delete --------------------------------------------------------------------------------------


async def test_delete_marks_the_turn_deleted_and_removes_its_messages(db: Database) -> None:
    tavern = build(db, engine=_engine())
    scene, turn = await _played(tavern)
    session = tavern.services.sessions.get(CHANNEL)
    assert session.controls_message_id == 5001

    reply = await tavern.services.turns.delete(alice(), turn.id)

    assert reply.text == "Deleted Marta's turn."
    assert (await tavern.stores.turns.get(turn.id)).deleted
    assert [t.speaker for t in await tavern.stores.turns.window(scene.id, 10)] == ["Ayla"]
    assert tavern.poster.deleted == [(CHANNEL, [5001])]
    assert session.controls_message_id is None
    assert tavern.poster.edits == []


async def test_delete_halts_a_running_round_first(db: Database) -> None:
    engine = BlockingEngine(texts=[FIRST])
    tavern = build(db, engine=engine)
    scene, turn = await _played(tavern)
    lock = tavern.services.sessions.get(CHANNEL).lock = WatchedLock()
    engine.block = True
    engine.release.clear()
    await tavern.services.play.on_message(_message(2, "Ayla orders a drink."))
    await within_guard(engine.blocked.wait())

    # Ayla's new post answered Marta's turn: only a GM may still delete it.
    deleting = asyncio.create_task(tavern.services.turns.delete(gm(), turn.id))
    await first_of(deleting, lock.someone_waits.wait())
    assert engine.woken.is_set() and not deleting.done()  # halted, waiting for the round
    assert tavern.poster.deleted == []
    engine.release.set()
    await within_guard(deleting)

    assert engine.finished and not tavern.services.sessions.busy(CHANNEL)
    history = await tavern.stores.turns.window(scene.id, 10)
    assert [(t.speaker, t.content) for t in history] == [
        ("Ayla", "Ayla walks into the inn."),
        ("Ayla", "Ayla orders a drink."),
    ]  # Marta's first turn is deleted and her half reply never stored
    assert len(tavern.poster.posts) == 1 and tavern.poster.notices == []
    assert tavern.poster.deleted == [(CHANNEL, [5001])]


# -- refusals ------------------------------------------------------------------------------------


async def test_a_stranger_is_refused(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    requests_before = len(tavern.engine.requests)
    actions = tavern.services.turns
    for attempt in (
        actions.swipe(stranger(), turn.id),
        actions.extend(stranger(), turn.id),
        actions.delete(stranger(), turn.id),
    ):
        with pytest.raises(UserError, match="Only this scene's players and GMs can do that"):
            await attempt
    kept = await tavern.stores.turns.get(turn.id)
    assert kept.content == FIRST and kept.swipes == [FIRST] and not kept.deleted
    assert len(tavern.engine.requests) == requests_before
    assert tavern.poster.edits == [] and tavern.poster.deleted == []


async def test_a_button_pressed_in_another_channel_changes_nothing(db: Database) -> None:
    """A replayed or crafted custom id acts only where the turn's scene plays, for a GM too."""
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    requests_before = len(tavern.engine.requests)
    actions = tavern.services.turns
    # A GM of another server (Manage Server there) pressing a button carrying this turn's id.
    elsewhere = actor(1, guild_id=OTHER_GUILD, channel_id=OTHER_CHANNEL + 1, manage_guild=True)
    for who in (alice(OTHER_CHANNEL), gm(OTHER_CHANNEL), elsewhere):
        for attempt in (
            actions.swipe(who, turn.id),
            actions.extend(who, turn.id),
            actions.delete(who, turn.id),
        ):
            with pytest.raises(UserError, match=r"^That button belongs to another channel\.$"):
                await attempt
    kept = await tavern.stores.turns.get(turn.id)
    assert kept.content == FIRST and kept.swipes == [FIRST] and not kept.deleted
    assert len(tavern.engine.requests) == requests_before
    assert tavern.poster.edits == [] and tavern.poster.deleted == []
    # In its own channel the same button still works.
    assert "Swiped" in (await actions.swipe(alice(), turn.id)).text


async def test_a_deleted_turn_is_no_longer_part_of_the_scene(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    actions = tavern.services.turns
    await actions.delete(alice(), turn.id)
    requests_before = len(tavern.engine.requests)
    for attempt in (
        actions.swipe(alice(), turn.id),
        actions.extend(alice(), turn.id),
        actions.delete(alice(), turn.id),
    ):
        with pytest.raises(UserError, match="That turn is no longer part of an active scene"):
            await attempt
    assert len(tavern.engine.requests) == requests_before
    assert tavern.poster.edits == [] and len(tavern.poster.deleted) == 1


async def test_a_turn_of_an_ended_scene_is_no_longer_part_of_an_active_scene(
    db: Database,
) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    await tavern.services.get(SceneCommands).end(gm())
    actions = tavern.services.turns
    for attempt in (
        actions.swipe(gm(), turn.id),
        actions.extend(gm(), turn.id),
        actions.delete(gm(), turn.id),
    ):
        with pytest.raises(UserError, match="no longer part of an active scene"):
            await attempt
    kept = await tavern.stores.turns.get(turn.id)
    assert kept.content == FIRST and not kept.deleted
    assert tavern.poster.edits == [] and tavern.poster.deleted == []


async def test_a_cleared_turn_no_longer_exists(db: Database) -> None:
    tavern = build(db, engine=_engine())
    scene, turn = await _played(tavern)
    await tavern.services.get(SceneCommands).clear(gm(), scene.id)
    with pytest.raises(UserError, match="That turn no longer exists"):
        await tavern.services.turns.swipe(alice(), turn.id)
    with pytest.raises(UserError, match="That turn no longer exists"):
        await tavern.services.turns.delete(alice(), turn.id)


# -- cooldown ------------------------------------------------------------------------------------


async def test_swipe_and_continue_share_a_cooldown(db: Database) -> None:
    tavern = build(db, engine=_engine(FIRST, SECOND, THIRD), cooldown=3600)
    _, turn = await _played(tavern)
    actions = tavern.services.turns
    await actions.swipe(alice(), turn.id)
    requests_after_swipe = len(tavern.engine.requests)

    with pytest.raises(UserError, match=r"Slow down: try again in \d+s"):
        await actions.swipe(alice(), turn.id)
    with pytest.raises(UserError, match="Slow down"):
        await actions.extend(alice(), turn.id)
    assert len(tavern.engine.requests) == requests_after_swipe
    assert (await tavern.stores.turns.get(turn.id)).swipes == [FIRST, SECOND]
    assert len(tavern.poster.edits) == 1

    # Someone else may still swipe; deleting is not rate-limited.
    await actions.swipe(gm(), turn.id)
    assert (await tavern.stores.turns.get(turn.id)).content == THIRD
    await actions.delete(alice(), turn.id)
    assert (await tavern.stores.turns.get(turn.id)).deleted


async def test_a_refused_participant_does_not_use_up_the_cooldown(db: Database) -> None:
    tavern = build(db, engine=_engine(), cooldown=3600)
    _, turn = await _played(tavern)
    with pytest.raises(UserError, match="Only this scene's players"):
        await tavern.services.turns.swipe(bob(), turn.id)
    # Bob joins in with a character, then his first swipe goes through.
    brann = await tavern.stores.characters.create(
        guild_id=GUILD, kind="player", name="Brann", sheet="s", owner_id=bob().user_id
    )
    await tavern.stores.scenes.bind_player(turn.scene_id, bob().user_id, brann.id)
    await tavern.services.turns.swipe(bob(), turn.id)
    assert (await tavern.stores.turns.get(turn.id)).content == SECOND


async def test_scene_end_stops_a_running_swipe_and_keeps_the_old_text(db: Database) -> None:
    engine = BlockingEngine(texts=[FIRST])
    tavern = build(db, engine=engine)
    _, turn = await _played(tavern)
    engine.block = True
    swiping = asyncio.create_task(tavern.services.turns.swipe(alice(), turn.id))
    await within_guard(engine.blocked.wait())

    ended = await within_guard(tavern.services.get(SceneCommands).end(gm()))
    assert ended.text.startswith("Scene ended.") and engine.woken.is_set()
    with pytest.raises(UserError, match="Stopped"):
        await within_guard(swiping)
    kept = await tavern.stores.turns.get(turn.id)
    assert kept.content == FIRST and kept.swipes == [FIRST]  # the half swipe was not kept
    assert tavern.poster.edits == []


async def test_an_answered_turn_stays_but_for_a_gms_delete(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    await tavern.stores.turns.append(
        turn.scene_id, role="user", speaker="Ayla", content="(( brb ))", author_id=ALICE
    )
    await tavern.services.turns.swipe(alice(), turn.id)  # an OOC aside answers nothing
    turn = await tavern.stores.turns.get(turn.id)
    edits = len(tavern.poster.edits)
    await tavern.stores.turns.append(
        turn.scene_id, role="user", speaker="Ayla", content="Thanks.", author_id=ALICE
    )
    turns = tavern.services.turns
    for action in (turns.swipe, turns.extend, turns.delete):
        for who in (alice(), gm()):
            if (action, who) == (turns.delete, gm()):
                continue
            with pytest.raises(UserError, match="earlier round"):
                await action(who, turn.id)
    assert (await tavern.stores.turns.get(turn.id)).content == turn.content
    assert len(tavern.poster.edits) == edits and tavern.poster.deleted == []
    await turns.delete(gm(), turn.id)  # to take back something unkind, say
    assert (await tavern.stores.turns.get(turn.id)).deleted


async def test_the_apps_menu_finds_the_turn_by_its_message(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    (message_id,) = turn.message_ids
    reply = await tavern.services.turns.on_message(alice(), "swipe", message_id)
    assert reply.text.startswith("Swiped Marta's turn")
    with pytest.raises(UserError, match="not part of a scene's history"):
        await tavern.services.turns.on_message(alice(), "swipe", 999_999)
    player = (await tavern.stores.turns.window(turn.scene_id, 10))[0]
    assert player.role == "user" and player.message_ids
    with pytest.raises(UserError, match="Only NPC turns"):
        await tavern.services.turns.on_message(alice(), "delete", player.message_ids[0])


async def test_an_out_of_character_aside_makes_nobody_a_player(db: Database) -> None:
    tavern = build(db, engine=_engine())
    _, turn = await _played(tavern)
    aside = IncomingMessage(77, CHANNEL, GUILD, STRANGER_ID, "Sam", "(( nice scene ))")
    await tavern.services.play.on_message(aside)
    await tavern.services.sessions.wait_idle()
    turns = tavern.services.turns
    for action in (turns.swipe, turns.extend, turns.delete):
        with pytest.raises(UserError, match="Only this scene's players and GMs"):
            await action(stranger(), turn.id)
    assert not (await tavern.stores.turns.get(turn.id)).deleted
    assert tavern.poster.deleted == [] and tavern.poster.edits == []
