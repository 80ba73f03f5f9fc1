"""Tracked state and rolls in the store: the fold over swipes, deletions and pending turns."""

from __future__ import annotations

import pytest

from bot.domain import DiceRoll
from bot.state.rules import Change, Number, Stat
from bot.store import Database, NotFoundError, Stores
from bot.store.migrate import downgrade, upgrade


async def _scene(stores: Stores) -> tuple[int, int, int]:
    """A scene with a player character Rook and an NPC Marta: (scene, rook, marta) ids."""
    scene = await stores.scenes.start(guild_id=1, channel_id=7, format="chatml")
    rook = await stores.characters.create(
        guild_id=1, kind="player", name="Rook", owner_id=5, sheet="s"
    )
    marta = await stores.characters.create(guild_id=1, kind="npc", name="Marta", sheet="s")
    return scene.id, rook.id, marta.id


async def test_turnless_changes_stand_in_order(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta = await _scene(stores)
    state = stores.state
    assert (await state.current(scene)).characters == {}
    await state.record(
        scene,
        [
            Change(rook, "HP", "set", Number(12, 20)),
            Change(rook, "Inventory", "set", ("rope", "lantern\x00")),
            Change(marta, "Gold", "set", Number(15)),
        ],
    )
    await state.record(scene, [Change(rook, "hp", "add", -3)])
    now = await state.current(scene)
    assert list(now.of(rook).values()) == [
        Stat("HP", Number(9, 20)),
        Stat("Inventory", ("rope", "lantern\x00")),
    ]
    assert now.get(marta, "gold") == Stat("Gold", Number(15))


async def test_a_turns_changes_follow_its_selected_swipe(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _ = await _scene(stores)
    await stores.state.record(scene, [Change(rook, "HP", "set", Number(20, 20))])
    turn = await stores.turns.append(scene, role="model", speaker="Marta", content="A cut.")
    await stores.state.record(scene, [Change(rook, "HP", "add", -5)], turn_id=turn.id)
    await stores.turns.add_swipe(turn.id, "A miss.")
    await stores.state.record(
        scene, [Change(rook, "Bag", "set", ("coin",))], turn_id=turn.id, swipe_index=1
    )

    async def seen() -> dict[str, Stat]:
        return dict((await stores.state.current(scene)).of(rook))

    assert await seen() == {"hp": Stat("HP", Number(20, 20)), "bag": Stat("Bag", ("coin",))}
    await stores.turns.select_swipe(turn.id, 0)
    assert await seen() == {"hp": Stat("HP", Number(15, 20))}
    other = await stores.state.current(scene, without_turn=turn.id)
    assert dict(other.of(rook)) == {"hp": Stat("HP", Number(20, 20))}
    await stores.turns.mark_deleted(turn.id)
    assert await seen() == {"hp": Stat("HP", Number(20, 20))}


async def test_pending_turns_count_once_posted(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _ = await _scene(stores)
    await stores.state.record(scene, [Change(rook, "Gold", "set", Number(1))])
    turn = await stores.turns.append(
        scene, role="model", speaker="Marta", content="Pay.", pending=True
    )
    await stores.state.record(scene, [Change(rook, "Gold", "add", 4)], turn_id=turn.id)
    assert (await stores.state.current(scene)).get(rook, "Gold") == Stat("Gold", Number(1))
    await stores.turns.mark_posted(turn.id)
    assert (await stores.state.current(scene)).get(rook, "Gold") == Stat("Gold", Number(5))


async def test_a_later_change_on_a_rolled_back_value_is_passed_over(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _ = await _scene(stores)
    made = await stores.turns.append(scene, role="model", speaker="Marta", content="Take it.")
    await stores.state.record(scene, [Change(rook, "Bag", "set", ("map",))], turn_id=made.id)
    await stores.state.record(scene, [Change(rook, "Bag", "add", ("key",))])
    assert (await stores.state.current(scene)).get(rook, "bag") == Stat("Bag", ("map", "key"))
    await stores.turns.mark_deleted(made.id)
    assert (await stores.state.current(scene)).of(rook) == {}


async def test_history_of_one_value(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _ = await _scene(stores)
    await stores.state.record(scene, [Change(rook, "HP", "set", Number(20, 20))])
    hit = await stores.turns.append(scene, role="model", speaker="Marta", content="Hit.")
    await stores.state.record(
        scene,
        [Change(rook, "hp", "add", -4), Change(rook, "Gold", "set", Number(2))],
        turn_id=hit.id,
    )
    gone = await stores.turns.append(scene, role="model", speaker="Marta", content="Again.")
    await stores.state.record(scene, [Change(rook, "HP", "add", -9)], turn_id=gone.id)
    await stores.turns.mark_deleted(gone.id)
    entries = await stores.state.history(scene, rook, "HP")
    assert [(e.change.op, e.change.value, e.turn_id, e.turn_seq, e.speaker) for e in entries] == [
        ("set", Number(20, 20), None, None, None),
        ("add", -4, hit.id, hit.seq, "Marta"),
    ]
    assert await stores.state.history(scene, rook, "Mana") == []


async def test_record_is_all_or_nothing_and_checks_the_turn(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _ = await _scene(stores)
    other = await stores.scenes.start(guild_id=1, channel_id=8, format="chatml")
    elsewhere = await stores.turns.append(other.id, role="user", speaker="Ann", content="Hi.")
    with pytest.raises(NotFoundError):
        await stores.state.record(
            scene, [Change(rook, "HP", "set", Number(1))], turn_id=elsewhere.id
        )
    with pytest.raises(NotFoundError):
        await stores.state.record(9999, [Change(rook, "HP", "set", Number(1))])
    with pytest.raises(Exception):  # noqa: B017 - the foreign key refuses a ghost character
        await stores.state.record(
            scene, [Change(rook, "HP", "set", Number(1)), Change(9999, "HP", "set", Number(2))]
        )
    assert (await stores.state.current(scene)).characters == {}


async def test_rolls_kept_per_swipe(db: Database) -> None:
    stores = Stores.over(db)
    scene, _, _ = await _scene(stores)
    turn = await stores.turns.append(
        scene, role="user", speaker="Rook", content="I roll.", kind="roll", private=True
    )
    assert (turn.kind, turn.private) == ("roll", True)
    plain = await stores.turns.append(scene, role="user", speaker="Rook", content="Hi.")
    assert (plain.kind, plain.private) == ("post", False)
    first = [DiceRoll("1d20+5", 17, "12 + 5", "stealth"), DiceRoll("2d6", 7, "3 + 4")]
    await stores.state.record_rolls(turn.id, 0, first[:1])
    await stores.state.record_rolls(turn.id, 0, first[1:])
    await stores.state.record_rolls(turn.id, 1, [DiceRoll("1d4", 2, "2", "x" * 300)])
    assert await stores.state.rolls(turn.id) == first
    assert await stores.state.rolls(plain.id) == []
    await stores.turns.add_swipe(turn.id, "Again.")
    assert await stores.state.rolls(turn.id) == [DiceRoll("1d4", 2, "2", "x" * 200)]
    assert await stores.state.rolls_of([turn.id, plain.id]) == {
        turn.id: [DiceRoll("1d4", 2, "2", "x" * 200)]
    }
    with pytest.raises(NotFoundError):
        await stores.state.record_rolls(9999, 0, first)
    rolled = await stores.turns.append(
        scene, role="user", speaker="Rook", content="17", kind="roll", rolls=first
    )
    assert await stores.state.rolls(rolled.id) == first
    with pytest.raises(ValueError, match="unknown turn kind"):
        await stores.turns.append(scene, role="user", speaker="R", content="x", kind="dance")


async def test_options_and_cascades(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _ = await _scene(stores)
    started = await stores.scenes.get(scene)
    assert (started.mechanics, started.player_stats) == (False, False)
    assert (await stores.state.set_options(scene, player_stats=True)).player_stats
    both = await stores.state.set_options(scene, mechanics=True)
    assert (both.mechanics, both.player_stats) == (True, True)
    turn = await stores.turns.append(scene, role="model", speaker="Marta", content="Hit.")
    await stores.state.record(scene, [Change(rook, "HP", "set", Number(3))], turn_id=turn.id)
    await stores.state.record_rolls(turn.id, 0, [DiceRoll("1d6", 3, "3")])
    await stores.turns.clear(scene)
    assert (await stores.state.current(scene)).characters == {}
    await stores.state.record(scene, [Change(rook, "HP", "set", Number(3))])
    await stores.characters.delete(rook)
    assert (await stores.state.current(scene)).characters == {}


async def test_migration_0007_both_ways(db_url: str) -> None:
    """Going back hides private turns from the prompt; coming back, every turn is a post."""
    await upgrade(db_url)
    db = Database(db_url)
    try:
        stores = Stores.over(db)
        scene, rook, _ = await _scene(stores)
        old = await stores.turns.append(scene, role="user", speaker="Ann", content="Old.")
        secret = await stores.turns.append(
            scene, role="user", speaker="Ann", content="Rolled.", kind="roll", private=True
        )
        await stores.state.record(scene, [Change(rook, "HP", "set", Number(3))])
        await db.dispose()
        await downgrade(db_url, "0006_scene_summary")
        await upgrade(db_url)
        rows = [t async for t in stores.turns.iter_all(scene, include_deleted=True)]
        assert [(t.id, t.deleted, t.kind, t.private) for t in rows] == [
            (old.id, False, "post", False),
            (secret.id, True, "post", False),
        ]
        assert (await stores.state.current(scene)).characters == {}
        assert not (await stores.scenes.get(scene)).player_stats
    finally:
        await db.dispose()
