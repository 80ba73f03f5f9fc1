"""Access: who counts as GM, who takes part in a scene, and per-user cooldowns."""

from __future__ import annotations

import pytest

from bot.channel.access import RECENT_AUTHORS_WINDOW, Access
from bot.errors import UserError
from bot.store import Database, Stores
from tests.channel.helpers import (
    ALICE,
    BOB,
    CHANNEL,
    GM_ROLE,
    GUILD,
    OTHER_CHANNEL,
    OTHER_GUILD,
    OTHER_ROLE,
    STRANGER,
    actor,
    alice,
    bob,
    gm,
    stranger,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _access(db: Database, cooldown: float = 0, clock: Clock | None = None) -> Access:
    stores = Stores.over(db)
    return Access(stores.scenes, stores.turns, cooldown, clock or Clock())


# -- GM -----------------------------------------------------------------------------------------


async def test_manage_server_is_gm_without_any_role_configured(db: Database) -> None:
    access = _access(db)
    assert await access.is_gm(gm())
    await access.require_gm(gm())


async def test_the_configured_gm_role_is_gm(db: Database) -> None:
    access = _access(db)
    await access.scenes.set_gm_role(GUILD, GM_ROLE)
    with_role = actor(ALICE, roles=[OTHER_ROLE, GM_ROLE])
    assert await access.is_gm(with_role)
    await access.require_gm(with_role)
    assert not await access.is_gm(actor(BOB, roles=[OTHER_ROLE]))


async def test_the_gm_role_of_another_guild_does_not_count(db: Database) -> None:
    access = _access(db)
    await access.scenes.set_gm_role(OTHER_GUILD, GM_ROLE)
    assert not await access.is_gm(actor(ALICE, roles=[GM_ROLE]))


async def test_someone_else_is_refused_with_a_clear_message(db: Database) -> None:
    access = _access(db)
    await access.scenes.set_gm_role(GUILD, GM_ROLE)
    assert not await access.is_gm(stranger())
    with pytest.raises(UserError, match=r"Only a GM can do that \(Manage Server or the GM role\)"):
        await access.require_gm(stranger())


async def test_without_a_configured_role_nobody_else_is_gm(db: Database) -> None:
    access = _access(db)
    with pytest.raises(UserError, match="Only a GM"):
        await access.require_gm(actor(ALICE, roles=[GM_ROLE]))


# -- scenes and participants ----------------------------------------------------------------------


async def test_require_scene_without_a_scene_explains_how_to_start_one(db: Database) -> None:
    access = _access(db)
    with pytest.raises(UserError, match=r"no scene in this channel.*/scene start"):
        await access.require_scene(alice())


async def test_require_scene_ignores_ended_scenes_and_other_channels(db: Database) -> None:
    access = _access(db)
    scenes = access.scenes
    await scenes.start(guild_id=GUILD, channel_id=OTHER_CHANNEL, format="chatml")
    with pytest.raises(UserError, match="no scene"):
        await access.require_scene(alice())
    started = await scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    assert (await access.require_scene(alice())).id == started.id
    await scenes.end(CHANNEL)
    with pytest.raises(UserError, match="no scene"):
        await access.require_scene(alice())


async def test_participants(db: Database) -> None:
    stores = Stores.over(db)
    access = Access(stores.scenes, stores.turns, 0, Clock())
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    mine = await stores.characters.create(
        guild_id=GUILD, kind="player", name="Ayla", sheet="x", owner_id=ALICE
    )
    await stores.scenes.bind_player(scene.id, ALICE, mine.id)
    his = await stores.characters.create(
        guild_id=GUILD, kind="player", name="Brann", sheet="x", owner_id=BOB
    )
    await stores.turns.append(
        scene.id, role="user", speaker="Brann", content="Hi.", author_id=BOB, character_id=his.id
    )
    # Sam only ever wrote out-of-character asides.
    for aside in ("(( brb ))", "// nice scene"):
        await stores.turns.append(
            scene.id, role="user", speaker="Sam", content=aside, author_id=STRANGER
        )

    await access.require_player(gm(), scene)  # a GM, never bound nor posting
    await access.require_player(alice(), scene)  # plays a character here
    await access.require_player(bob(), scene)  # played Brann here lately (not bound any more)
    with pytest.raises(UserError, match="Only this scene's players and GMs can do that"):
        await access.require_player(stranger(), scene)


async def test_a_character_bound_in_another_scene_does_not_make_a_participant(
    db: Database,
) -> None:
    stores = Stores.over(db)
    access = Access(stores.scenes, stores.turns, 0, Clock())
    here = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    there = await stores.scenes.start(guild_id=GUILD, channel_id=OTHER_CHANNEL, format="chatml")
    mine = await stores.characters.create(
        guild_id=GUILD, kind="player", name="Ayla", sheet="x", owner_id=ALICE
    )
    await stores.scenes.bind_player(there.id, ALICE, mine.id)
    await stores.turns.append(there.id, role="user", speaker="Ayla", content="Hi.", author_id=ALICE)
    with pytest.raises(UserError, match="Only this scene's players"):
        await access.require_player(alice(), here)


async def test_playing_long_ago_or_a_deleted_post_does_not_count(db: Database) -> None:
    stores = Stores.over(db)
    access = Access(stores.scenes, stores.turns, 0, Clock())
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=CHANNEL, format="chatml")
    sable = await stores.characters.create(
        guild_id=GUILD, kind="player", name="Sable", sheet="x", owner_id=STRANGER
    )

    async def sable_says(text: str) -> int:
        turn = await stores.turns.append(
            scene.id,
            role="user",
            speaker="Sable",
            content=text,
            author_id=STRANGER,
            character_id=sable.id,
        )
        return turn.id

    old = await sable_says("Long ago.")
    for i in range(RECENT_AUTHORS_WINDOW):
        await stores.turns.append(
            scene.id, role="user", speaker="Bob", content=f"{i}", author_id=BOB
        )
    with pytest.raises(UserError, match="Only this scene's players"):
        await access.require_player(stranger(), scene)

    recent = await sable_says("Now.")
    await access.require_player(stranger(), scene)
    await stores.turns.mark_deleted(recent)
    assert old != recent
    with pytest.raises(UserError, match="Only this scene's players"):
        await access.require_player(stranger(), scene)


# -- cooldown -------------------------------------------------------------------------------------


async def test_a_repeat_inside_the_window_is_refused_with_the_remaining_seconds(
    db: Database,
) -> None:
    clock = Clock()
    access = _access(db, cooldown=10, clock=clock)
    access.cooldown(alice(), "reply")
    clock.now += 3
    with pytest.raises(UserError, match=r"^Slow down: try again in 7s\.$"):
        access.cooldown(alice(), "reply")
    clock.now += 6.5  # 9.5 s after the use: less than a second left still says 1s
    with pytest.raises(UserError, match=r"^Slow down: try again in 1s\.$"):
        access.cooldown(alice(), "reply")


async def test_a_refused_repeat_does_not_restart_the_window(db: Database) -> None:
    clock = Clock()
    access = _access(db, cooldown=10, clock=clock)
    access.cooldown(alice(), "reply")
    clock.now += 5
    with pytest.raises(UserError, match="Slow down"):
        access.cooldown(alice(), "reply")
    clock.now += 5  # 10 s after the accepted use
    access.cooldown(alice(), "reply")


async def test_after_the_window_it_is_allowed_again(db: Database) -> None:
    clock = Clock()
    access = _access(db, cooldown=10, clock=clock)
    access.cooldown(alice(), "reply")
    clock.now += 10.01
    access.cooldown(alice(), "reply")
    clock.now += 1
    with pytest.raises(UserError, match=r"Slow down: try again in 9s"):
        access.cooldown(alice(), "reply")


async def test_actions_and_users_have_separate_cooldowns(db: Database) -> None:
    clock = Clock()
    access = _access(db, cooldown=10, clock=clock)
    access.cooldown(alice(), "reply")
    access.cooldown(alice(), "swipe")
    access.cooldown(bob(), "reply")
    access.cooldown(bob(), "swipe")
    assert access.tracked() == 4
    for who in (alice(), bob()):
        for action in ("reply", "swipe"):
            with pytest.raises(UserError, match="Slow down"):
                access.cooldown(who, action)


async def test_the_cooldown_is_per_user_not_per_channel(db: Database) -> None:
    access = _access(db, cooldown=10)
    access.cooldown(alice(CHANNEL), "reply")
    with pytest.raises(UserError, match="Slow down"):
        access.cooldown(alice(OTHER_CHANNEL), "reply")


async def test_a_zero_cooldown_never_refuses(db: Database) -> None:
    clock = Clock()
    access = _access(db, cooldown=0, clock=clock)
    for _ in range(5):
        access.cooldown(alice(), "reply")
        access.cooldown(alice(), "swipe")
    clock.now += 0.001
    access.cooldown(alice(), "reply")
    assert access.tracked() <= 2


async def test_the_map_stays_bounded(db: Database) -> None:
    clock = Clock()
    access = _access(db, cooldown=10, clock=clock)
    for user in range(1000):
        access.cooldown(actor(10_000 + user), "reply")
        clock.now += 0.001
    assert access.tracked() == 1000
    clock.now += 10  # all of them are past the window now
    access.cooldown(actor(ALICE), "reply")
    clock.now += 4
    access.cooldown(actor(BOB), "swipe")
    assert access.tracked() == 2
    # Those forgotten may act again; the recent ones are still held back.
    access.cooldown(actor(10_000), "reply")
    with pytest.raises(UserError, match="Slow down"):
        access.cooldown(actor(ALICE), "reply")
    assert access.tracked() == 3
