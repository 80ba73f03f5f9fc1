"""SceneCommands and ConfigCommands: /scene and /config without Discord."""

from __future__ import annotations

import asyncio
import math

import pytest

from bot.channel.sessions import Trigger
from bot.characters.service import CharacterCommands, CharacterInput
from bot.errors import UserError
from bot.guild.service import ConfigCommands
from bot.scenes.service import MAX_REPLIES_LIMIT, SCENARIO_MAX_CHARS, SceneCommands, SceneSettings
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GM_ROLE,
    GUILD,
    OTHER_CHANNEL,
    BlockingEngine,
    Tavern,
    WatchedLock,
    actor,
    alice,
    build,
    first_of,
    gm,
    within_guard,
)


@pytest.fixture
def tavern(db: Database) -> Tavern:
    return build(db, default_format="chatml")


async def _npc(tavern: Tavern, name: str, greeting: str | None = None) -> int:
    npc = await tavern.stores.characters.create(
        guild_id=GUILD,
        kind="npc",
        name=name,
        sheet=f"**Character Name**: {name}",
        greeting=greeting,
        avatar_url=f"https://cdn.example/{name.lower()}.png",
    )
    return npc.id


# -- who may -------------------------------------------------------------------------------------


async def test_only_gms_start_end_and_configure(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    with pytest.raises(UserError, match="Only a GM"):
        await scenes.start(alice(), None)
    assert await stores.scenes.by_channel(CHANNEL, active_only=False) is None

    await scenes.start(gm(), None)
    await _npc(tavern, "Marta")
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    attempts = [
        scenes.end(alice()),
        scenes.status(alice()),
        scenes.add_npc(alice(), "Marta"),
        scenes.remove_npc(alice(), "Marta"),
        scenes.settings(alice(), SceneSettings(max_replies=1)),
        scenes.scenario(alice(), "A storm."),
        scenes.prompt(alice()),
        scenes.export(alice()),
        scenes.clear_request(alice()),
        scenes.clear(alice(), scene.id),
    ]
    for attempt in attempts:
        with pytest.raises(UserError, match="Only a GM"):
            await attempt
    after = await stores.scenes.get(scene.id)
    assert after.active and after.max_replies == 3 and after.scenario is None
    assert await stores.scenes.cast(scene.id) == []


async def test_the_gm_role_may_run_scenes(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await stores.scenes.set_gm_role(GUILD, GM_ROLE)
    role_gm = actor(ALICE, roles=[GM_ROLE])
    await scenes.start(role_gm, "group-inst")
    await scenes.end(role_gm)
    scene = await stores.scenes.by_channel(CHANNEL, active_only=False)
    assert scene is not None and not scene.active


async def test_gm_commands_need_a_scene(tavern: Tavern) -> None:
    scenes = tavern.services.get(SceneCommands)
    for attempt in (scenes.status(gm()), scenes.end(gm()), scenes.add_npc(gm(), "Marta")):
        with pytest.raises(UserError, match="no scene in this channel"):
            await attempt


# -- start ---------------------------------------------------------------------------------------


async def test_start_uses_the_configured_default_format(tavern: Tavern) -> None:
    reply = await tavern.services.get(SceneCommands).start(gm(), None)
    scene = await tavern.stores.scenes.by_channel(CHANNEL)
    assert scene is not None and scene.format == "chatml" and scene.reply_mode == "auto"
    assert scene.guild_id == GUILD
    assert not reply.ephemeral
    assert reply.text.startswith("Scene started here (format chatml, reply mode auto).")


async def test_start_with_a_format_and_a_bad_format(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    with pytest.raises(UserError, match="format must be one of: group-inst, chatml"):
        await scenes.start(gm(), "vicuna")
    assert await stores.scenes.by_channel(CHANNEL, active_only=False) is None
    await scenes.start(gm(), "alpaca-limarp")
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None and scene.format == "alpaca-limarp"


async def test_a_restart_keeps_format_reply_mode_cast_and_history(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), "group-inst")
    await _npc(tavern, "Marta")
    await scenes.add_npc(gm(), "Marta")
    await scenes.settings(gm(), SceneSettings(reply_mode="manual", max_replies=2))
    first = await stores.scenes.by_channel(CHANNEL)
    assert first is not None
    await stores.turns.append(first.id, role="user", speaker="Ayla", content="Hello.")
    await scenes.end(gm())

    reply = await scenes.start(gm(), None)
    assert "started again" in reply.text and "format group-inst, reply mode manual" in reply.text
    again = await stores.scenes.by_channel(CHANNEL)
    assert again is not None and again.id == first.id
    assert (again.format, again.reply_mode, again.max_replies) == ("group-inst", "manual", 2)
    assert [c.name for c in await stores.scenes.cast(again.id)] == ["Marta"]
    assert await stores.turns.count(again.id) == 1

    # A format given on restart wins; the reply mode is still kept.
    await scenes.end(gm())
    await scenes.start(gm(), "alpaca-limarp")
    last = await stores.scenes.by_channel(CHANNEL)
    assert last is not None and (last.format, last.reply_mode) == ("alpaca-limarp", "manual")


# -- settings ------------------------------------------------------------------------------------


def test_settings_validation_accepts_good_values() -> None:
    assert SceneSettings().validated() == {}
    assert SceneSettings(
        format="chatml",
        length="short",
        reply_mode="mention",
        max_replies=MAX_REPLIES_LIMIT,
        temperature=0,
        min_p=1,
    ).validated() == {
        "format": "chatml",
        "length": "short",
        "reply_mode": "mention",
        "max_replies": MAX_REPLIES_LIMIT,
        "temperature": 0,
        "min_p": 1,
    }
    assert SceneSettings(length="none").validated() == {"length": None}
    assert SceneSettings(max_replies=1, temperature=2.0, min_p=0.0).validated() == {
        "max_replies": 1,
        "temperature": 2.0,
        "min_p": 0.0,
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SceneSettings(format="llama3"), r"^format must be one of: group-inst, chatml, "),
        (SceneSettings(length="gigantic"), r"^length must be one of: micro, tiny, short, "),
        (
            SceneSettings(reply_mode="always"),
            r"^reply_mode must be one of: auto, table, mention, manual",
        ),
        (SceneSettings(max_replies=0), r"^max_replies must be between 1 and 8\.$"),
        (SceneSettings(max_replies=MAX_REPLIES_LIMIT + 1), r"^max_replies must be between 1"),
        (SceneSettings(max_replies=-3), r"^max_replies must be between 1"),
        (SceneSettings(temperature=-0.1), r"^temperature must be between 0 and 2\.$"),
        (SceneSettings(temperature=2.01), r"^temperature must be between 0 and 2\.$"),
        (SceneSettings(temperature=math.nan), r"^temperature must be between 0 and 2\.$"),
        (SceneSettings(temperature=math.inf), r"^temperature must be between 0 and 2\.$"),
        (SceneSettings(min_p=1.5), r"^min_p must be between 0 and 1\.$"),
        (SceneSettings(min_p=-0.01), r"^min_p must be between 0 and 1\.$"),
        (SceneSettings(min_p=math.nan), r"^min_p must be between 0 and 1\.$"),
        # One bad value spoils the whole change.
        (SceneSettings(format="chatml", max_replies=99), r"^max_replies"),
    ],
)
def test_settings_validation_rejects_bad_values(settings: SceneSettings, message: str) -> None:
    with pytest.raises(UserError, match=message):
        settings.validated()


async def test_settings_are_stored_and_a_bad_value_changes_nothing(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    reply = await scenes.settings(
        gm(), SceneSettings(length="long", max_replies=5, temperature=1.2, min_p=0.05)
    )
    assert reply.text == (
        "Scene settings changed: length = long, max_replies = 5, temperature = 1.2, min_p = 0.05."
    )
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    assert (scene.length, scene.max_replies, scene.temperature, scene.min_p) == (
        "long",
        5,
        1.2,
        0.05,
    )

    with pytest.raises(UserError, match="min_p"):
        await scenes.settings(gm(), SceneSettings(max_replies=1, min_p=3))
    assert (await stores.scenes.get(scene.id)).max_replies == 5

    reply = await scenes.settings(gm(), SceneSettings(length="none"))
    assert reply.text == "Scene settings changed: length = none."
    assert (await stores.scenes.get(scene.id)).length is None


async def test_settings_without_changes_show_the_status(tavern: Tavern) -> None:
    scenes = tavern.services.get(SceneCommands)
    await scenes.start(gm(), None)
    reply = await scenes.settings(gm(), SceneSettings())
    assert reply.text == (await scenes.status(gm())).text


async def test_scenario_is_capped_and_can_be_removed(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    longest = "x" * SCENARIO_MAX_CHARS
    assert (await scenes.scenario(gm(), f"  {longest}\n")).text == "Scenario updated."
    assert (await stores.scenes.get(scene.id)).scenario == longest
    with pytest.raises(UserError, match="limited to 2000 characters"):
        await scenes.scenario(gm(), longest + "y")
    assert (await stores.scenes.get(scene.id)).scenario == longest
    assert (await scenes.scenario(gm(), "   ")).text == "Scenario removed."
    assert (await stores.scenes.get(scene.id)).scenario is None


# -- cast ----------------------------------------------------------------------------------------


async def test_add_and_remove_npcs(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    await _npc(tavern, "Marta")
    await _npc(tavern, "Tobin")

    with pytest.raises(UserError, match=r"No NPC named 'Nobody'\. Create one with /npc create"):
        await scenes.add_npc(gm(), "Nobody")
    joined = await scenes.add_npc(gm(), "marta")
    assert joined.text == "**Marta** joined the scene." and not joined.ephemeral
    again = await scenes.add_npc(gm(), "MARTA")
    assert again.text == "**Marta** is already in this scene."
    await scenes.add_npc(gm(), "Tobin")
    assert [c.name for c in await stores.scenes.cast(scene.id)] == ["Marta", "Tobin"]
    # Neither NPC has a greeting: nothing was said or stored.
    assert tavern.poster.posts == [] and await stores.turns.count(scene.id) == 0

    left = await scenes.remove_npc(gm(), "marta")
    assert left.text == "**Marta** left the scene."
    assert [c.name for c in await stores.scenes.cast(scene.id)] == ["Tobin"]
    with pytest.raises(UserError, match="Marta is not in this scene"):
        await scenes.remove_npc(gm(), "Marta")
    with pytest.raises(UserError, match="Nobody is not in this scene"):
        await scenes.remove_npc(gm(), "Nobody")
    # Leaving the scene does not delete the NPC.
    assert await stores.characters.find_npc(GUILD, "Marta") is not None


async def test_an_npc_with_a_greeting_says_it_when_added(tavern: Tavern) -> None:
    scenes, stores, poster = tavern.services.get(SceneCommands), tavern.stores, tavern.poster
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    marta_id = await _npc(tavern, "Marta", greeting="Welcome to the Crooked Kettle!")
    await scenes.add_npc(gm(), "Marta")

    assert len(poster.posts) == 1
    channel, speaker, avatar, text, ids = poster.posts[0]
    assert (channel, speaker, avatar, text) == (
        CHANNEL,
        "Marta",
        "https://cdn.example/marta.png",
        "Welcome to the Crooked Kettle!",
    )
    history = await stores.turns.window(scene.id, 10)
    assert len(history) == 1
    greeting = history[0]
    assert (greeting.role, greeting.speaker, greeting.content, greeting.character_id) == (
        "model",
        "Marta",
        "Welcome to the Crooked Kettle!",
        marta_id,
    )
    assert greeting.message_ids == ids
    assert (await stores.turns.by_message_id(ids[0])).id == greeting.id  # type: ignore[union-attr]

    # Already in the cast: no second greeting.
    await scenes.add_npc(gm(), "Marta")
    assert len(poster.posts) == 1 and await stores.turns.count(scene.id) == 1


# -- status, prompt, export ------------------------------------------------------------------------


async def test_status_text(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), "group-inst")
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    empty = await scenes.status(gm())
    assert empty.text == (
        "**Format** group-inst · **reply mode** auto · **max replies** 3 · "
        "**length** model decides\n"
        "**Temperature** default · **min_p** default · **mechanics** off\n"
        "**Cast** nobody yet\n"
        "**Players** nobody yet\n"
        "**Turns** 0"
    )
    assert empty.ephemeral

    await _npc(tavern, "Marta")
    await _npc(tavern, "Tobin")
    await scenes.add_npc(gm(), "Marta")
    await scenes.add_npc(gm(), "Tobin")
    await tavern.services.get(CharacterCommands).create(
        alice(), "player", CharacterInput(name="Ayla")
    )
    await tavern.services.get(CharacterCommands).use(alice(), "Ayla")
    changed = await scenes.settings(
        gm(), SceneSettings(length="short", temperature=1.25, max_replies=2, mechanics=True)
    )
    assert changed.text.endswith("temperature = 1.25, mechanics = on.")
    await scenes.scenario(gm(), "A storm over the harbour.")
    await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Hello.")
    deleted = await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Oops.")
    await stores.turns.mark_deleted(deleted.id)

    assert (await scenes.status(gm())).text == (
        "**Format** group-inst · **reply mode** auto · **max replies** 2 · **length** short\n"
        "**Temperature** 1.25 · **min_p** default · **mechanics** on\n"
        "**Cast** Marta, Tobin\n"
        "**Players** Ayla\n"
        "**Turns** 1\n"
        "**Scenario** A storm over the harbour."
    )


async def test_prompt_shows_the_next_prompt_as_a_file(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    await _npc(tavern, "Marta")
    await scenes.add_npc(gm(), "Marta")
    await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Hello, Marta.")
    reply = await scenes.prompt(gm())
    assert reply.text.startswith("Next prompt: ") and reply.text.endswith(" tokens.")
    assert reply.file is not None and reply.file[0] == "prompt.txt"
    prompt = reply.file[1].decode()
    assert "**Character Name**: Marta" in prompt and "Hello, Marta." in prompt
    assert tavern.engine.requests == []  # building a prompt generates nothing


async def test_export_without_history_is_an_error(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    with pytest.raises(UserError, match="This scene has no history yet"):
        await scenes.export(gm())
    hidden = await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Gone.")
    await stores.turns.mark_deleted(hidden.id)
    with pytest.raises(UserError, match="no history yet"):
        await scenes.export(gm())


async def test_export_is_a_transcript_file(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Hello.")
    gone = await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Typo.")
    await stores.turns.mark_deleted(gone.id)
    await stores.turns.append(scene.id, role="model", speaker="Marta", content="Welcome!")
    # Another channel's scene does not leak in.
    other = await stores.scenes.start(guild_id=GUILD, channel_id=OTHER_CHANNEL, format="chatml")
    await stores.turns.append(other.id, role="user", speaker="Bob", content="Elsewhere.")

    reply = await scenes.export(gm())
    assert reply.text == "Transcript: 2 turns."
    assert reply.file == ("transcript.txt", b"Ayla: Hello.\n\nMarta: Welcome!\n")


# -- clear ---------------------------------------------------------------------------------------


async def test_clear_request_counts_and_clear_wipes(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    for i in range(3):
        await stores.turns.append(scene.id, role="user", speaker="Ayla", content=f"Line {i}.")
    gone = await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Typo.")
    await stores.turns.mark_deleted(gone.id)

    ask, scene_id = await scenes.clear_request(gm())
    assert scene_id == scene.id
    assert ask.text == "Delete all 3 turns of this scene? This cannot be undone."
    assert await stores.turns.count(scene.id) == 3  # only asked so far

    done = await scenes.clear(gm(), scene_id)
    assert done.text == "Cleared 3 turns." and not done.ephemeral
    assert await stores.turns.count(scene.id) == 0
    assert [t async for t in stores.turns.iter_all(scene.id, include_deleted=True)] == []
    assert (await stores.scenes.get(scene.id)).active  # the scene itself stays


async def test_clear_refuses_a_scene_of_another_channel(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    here = await stores.scenes.by_channel(CHANNEL)
    assert here is not None
    other = await stores.scenes.start(guild_id=GUILD, channel_id=OTHER_CHANNEL, format="chatml")
    await stores.turns.append(other.id, role="user", speaker="Bob", content="Keep me.")
    await stores.turns.append(here.id, role="user", speaker="Ayla", content="Keep me too.")

    with pytest.raises(UserError, match="That button belongs to another channel"):
        await scenes.clear(gm(CHANNEL), other.id)
    assert await stores.turns.count(other.id) == 1
    assert await stores.turns.count(here.id) == 1


# -- end -----------------------------------------------------------------------------------------


async def test_end_deactivates_and_keeps_the_history(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Hello.")
    reply = await scenes.end(gm())
    assert reply.text == "Scene ended. History is kept; /scene start resumes it."
    assert not reply.ephemeral
    assert await stores.scenes.by_channel(CHANNEL) is None
    ended = await stores.scenes.get(scene.id)
    assert not ended.active and await stores.turns.count(scene.id) == 1
    with pytest.raises(UserError, match="no scene in this channel"):
        await scenes.end(gm())


async def _blocked_round(tavern: Tavern, engine: BlockingEngine) -> tuple[int, WatchedLock]:
    """A scene whose round is mid-reply (Marta generating) behind a watched session lock."""
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    await _npc(tavern, "Marta")
    await scenes.add_npc(gm(), "Marta")
    await stores.turns.append(scene.id, role="user", speaker="Ayla", content="Hello, Marta.")
    lock = tavern.services.sessions.get(CHANNEL).lock = WatchedLock()
    engine.block = True
    engine.release.clear()
    await tavern.services.play.reply(gm(), None)
    await within_guard(engine.blocked.wait())
    assert lock.locked() and tavern.services.sessions.busy(CHANNEL)
    return scene.id, lock


async def test_end_halts_a_running_round_and_returns_after_it_stopped(db: Database) -> None:
    engine = BlockingEngine()
    tavern = build(db, engine=engine)
    stores = tavern.stores
    scene_id, lock = await _blocked_round(tavern, engine)
    session = tavern.services.sessions.get(CHANNEL)
    round_task = session.task
    assert round_task is not None

    ending = asyncio.create_task(tavern.services.get(SceneCommands).end(gm()))
    await first_of(ending, lock.someone_waits.wait())
    # The round was told to stop, and /scene end waits for it before touching the scene.
    assert engine.woken.is_set() and not ending.done()
    assert (await stores.scenes.get(scene_id)).active

    engine.release.set()  # the generation notices the halt and returns its half reply
    reply = await within_guard(ending)

    assert reply.text.startswith("Scene ended.")
    assert engine.finished and round_task.done()
    assert not tavern.services.sessions.busy(CHANNEL) and not lock.locked()
    history = [t async for t in stores.turns.iter_all(scene_id, include_deleted=True)]
    assert [(t.speaker, t.content) for t in history] == [("Ayla", "Hello, Marta.")]
    assert tavern.poster.posts == [] and tavern.poster.notices == []
    assert tavern.poster.controls == []
    assert not (await stores.scenes.get(scene_id)).active
    assert await stores.scenes.by_channel(CHANNEL) is None
    assert tavern.services.sessions.rounds_started == 1


async def test_end_forgets_a_round_still_waiting_for_quiet(db: Database) -> None:
    tavern = build(db)
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    await _npc(tavern, "Marta")
    await scenes.add_npc(gm(), "Marta")
    tavern.services.sessions.trigger(CHANNEL, Trigger(delay=3600))
    assert tavern.services.sessions.busy(CHANNEL)
    await scenes.end(gm())
    assert not tavern.services.sessions.busy(CHANNEL)
    await tavern.services.sessions.wait_idle()
    assert tavern.services.sessions.rounds_started == 0 and tavern.engine.requests == []
    assert await stores.scenes.by_channel(CHANNEL) is None


async def test_clear_halts_a_running_round_and_wipes_everything(db: Database) -> None:
    engine = BlockingEngine()
    tavern = build(db, engine=engine)
    stores = tavern.stores
    scene_id, lock = await _blocked_round(tavern, engine)

    clearing = asyncio.create_task(tavern.services.get(SceneCommands).clear(gm(), scene_id))
    await first_of(clearing, lock.someone_waits.wait())
    assert engine.woken.is_set() and not clearing.done()
    assert await stores.turns.count(scene_id) == 1
    engine.release.set()
    done = await within_guard(clearing)

    assert done.text == "Cleared 1 turns."
    assert engine.finished
    assert [t async for t in stores.turns.iter_all(scene_id, include_deleted=True)] == []
    assert tavern.poster.posts == [] and tavern.poster.notices == []
    assert (await stores.scenes.get(scene_id)).active


async def test_ending_a_scene_twice_at_once_is_not_an_internal_error(tavern: Tavern) -> None:
    scenes, stores = tavern.services.get(SceneCommands), tavern.stores
    await scenes.start(gm(), None)
    lock = tavern.services.sessions.get(CHANNEL).lock = WatchedLock()
    await lock.acquire()  # a swipe in progress holds the channel
    first = asyncio.create_task(scenes.end(gm()))
    await first_of(first, lock.someone_waits.wait())
    lock.someone_waits.clear()
    second = asyncio.create_task(scenes.end(actor(ALICE, manage_guild=True)))
    await first_of(second, lock.someone_waits.wait())
    assert lock.queued == 2  # both GMs passed their checks and wait for the channel
    lock.release()
    assert (await within_guard(first)).text.startswith("Scene ended.")
    assert await stores.scenes.by_channel(CHANNEL) is None
    with pytest.raises(UserError, match="no scene"):  # a clear answer, not an internal error
        await within_guard(second)


# -- config --------------------------------------------------------------------------------------


async def test_only_manage_server_sets_the_gm_role(tavern: Tavern) -> None:
    config, stores = tavern.services.get(ConfigCommands), tavern.stores
    await stores.scenes.set_gm_role(GUILD, GM_ROLE)
    role_gm = actor(ALICE, roles=[GM_ROLE])
    with pytest.raises(UserError, match="Only members with Manage Server can choose the GM role"):
        await config.set_gm_role(role_gm, 1234)  # a GM by role is not enough
    with pytest.raises(UserError, match="Manage Server"):
        await config.set_gm_role(alice(), None)
    assert await stores.scenes.gm_role(GUILD) == GM_ROLE

    reply = await config.set_gm_role(gm(), 4321)
    assert reply.text == "Members with <@&4321> are now GMs."
    assert await stores.scenes.gm_role(GUILD) == 4321
    assert not await tavern.services.get(SceneCommands).access.is_gm(role_gm)
    assert await tavern.services.get(SceneCommands).access.is_gm(actor(ALICE, roles=[4321]))


async def test_clearing_the_gm_role(tavern: Tavern) -> None:
    config, stores = tavern.services.get(ConfigCommands), tavern.stores
    await config.set_gm_role(gm(), GM_ROLE)
    reply = await config.set_gm_role(gm(), None)
    assert reply.text == "GM role cleared: only Manage Server counts as GM."
    assert await stores.scenes.gm_role(GUILD) is None
    with pytest.raises(UserError, match="Only a GM"):
        await tavern.services.get(SceneCommands).start(actor(ALICE, roles=[GM_ROLE]), None)
