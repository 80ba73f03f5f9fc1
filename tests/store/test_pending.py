"""Pending model turns in the store: outside the history until posted, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.store import Database, DuplicateMessageError, NotFoundError, SceneStore, TurnStore

GUILD, OTHER_GUILD = 1, 2


async def _scene(db: Database, channel_id: int = 100, guild_id: int = GUILD) -> int:
    scene = await SceneStore(db).start(guild_id=guild_id, channel_id=channel_id, format="chatml")
    return scene.id


async def _history(turns: TurnStore, scene_id: int) -> list[str]:
    return [t.content async for t in turns.iter_all(scene_id)]


async def test_a_pending_turn_is_outside_every_history_read(db: Database) -> None:
    turns, scene = TurnStore(db), await _scene(db)
    await turns.append(scene, role="user", speaker="Ann", content="Hello.")
    pending = await turns.append(
        scene, role="model", speaker="Mira", content="Unseen.", pending=True
    )
    assert pending.pending
    assert [t.content for t in await turns.window(scene, 10)] == ["Hello."]
    assert (await turns.last(scene)).content == "Hello."
    assert await turns.count(scene) == 1
    assert await _history(turns, scene) == ["Hello."]
    stored = [t async for t in turns.iter_all(scene, include_deleted=True)]
    assert [(t.content, t.pending) for t in stored] == [("Hello.", False), ("Unseen.", True)]


async def test_parts_are_recorded_one_by_one_and_posting_completes_the_turn(db: Database) -> None:
    turns, scene = TurnStore(db), await _scene(db)
    turn = await turns.append(scene, role="model", speaker="Mira", content="Long.", pending=True)
    await turns.add_message_id(turn.id, 501, 0)
    assert (await turns.get(turn.id)).message_ids == [501]
    await turns.add_message_id(turn.id, 502, 1)
    assert await _history(turns, scene) == []  # every part sent, but not yet marked posted

    await turns.mark_posted(turn.id)
    posted = await turns.get(turn.id)
    assert (posted.pending, posted.message_ids) == (False, [501, 502])
    assert await _history(turns, scene) == ["Long."]
    assert (await turns.by_message_id(502)).id == turn.id


async def test_a_message_id_is_recorded_once(db: Database) -> None:
    turns, scene = TurnStore(db), await _scene(db)
    await turns.append(scene, role="user", speaker="Ann", content="Hi.", message_ids=[77])
    turn = await turns.append(scene, role="model", speaker="Mira", content="Yes.", pending=True)
    with pytest.raises(DuplicateMessageError):
        await turns.add_message_id(turn.id, 77, 0)
    with pytest.raises(DuplicateMessageError):
        await turns.append(scene, role="user", speaker="Ann", content="Again.", message_ids=[77])
    with pytest.raises(NotFoundError):
        await turns.mark_posted(turn.id + 1000)


async def test_pending_turns_of_one_scene_or_all(db: Database) -> None:
    turns = TurnStore(db)
    first, second = await _scene(db, 100), await _scene(db, 200)
    await turns.append(first, role="user", speaker="Ann", content="Hi.")
    left = await turns.append(first, role="model", speaker="Mira", content="Cut.", pending=True)
    await turns.add_message_id(left.id, 901, 0)
    other = await turns.append(second, role="model", speaker="Rook", content="Too.", pending=True)

    [found] = await turns.pending(first)
    assert (found.id, found.message_ids) == (left.id, [901])
    assert [t.id for t in await turns.pending()] == [left.id, other.id]
    await turns.mark_deleted(left.id)  # hidden: no longer waiting to be posted
    assert [t.id for t in await turns.pending()] == [other.id]
    await turns.mark_posted(other.id)
    assert await turns.pending() == []
    assert await _history(turns, first) == ["Hi."]
    assert await _history(turns, second) == ["Too."]


async def test_the_last_message_id_covers_every_turn_of_the_scene(db: Database) -> None:
    turns = TurnStore(db)
    scene, other = await _scene(db, 100), await _scene(db, 200)
    assert await turns.last_message_id(scene) is None
    await turns.append(scene, role="user", speaker="Ann", content="a", message_ids=[30])
    gone = await turns.append(scene, role="user", speaker="Ann", content="b", message_ids=[40])
    await turns.mark_deleted(gone.id)  # a deleted turn's message still marks a point in time
    await turns.append(other, role="user", speaker="Bo", content="c", message_ids=[50])
    assert await turns.last_message_id(scene) == 40


async def test_restore_puts_back_a_rewrite_nobody_saw(db: Database) -> None:
    turns, scene = TurnStore(db), await _scene(db)
    before = await turns.append(scene, role="model", speaker="Mira", content="One.")
    await turns.add_swipe(before.id, "Two.")
    await turns.edit(before.id, "Two, longer.")
    restored = await turns.restore(before)
    assert (restored.content, restored.swipes, restored.swipe_index, restored.edited) == (
        "One.",
        ["One."],
        0,
        False,
    )
    assert (await turns.get(before.id)).content == "One."


async def test_active_scenes_of_the_given_guilds(db: Database) -> None:
    scenes = SceneStore(db)
    here, _ = await _scene(db, 100), await _scene(db, 200, OTHER_GUILD)
    await _scene(db, 300)
    await scenes.end(300)
    assert [s.id for s in await scenes.active_in([GUILD])] == [here]
    assert len(await scenes.active_in([GUILD, OTHER_GUILD])) == 2
    assert await scenes.active_in([]) == []
