"""Who saw what in the store: witnesses recorded on append, views read back, per-view summaries."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store import PUBLIC, Database, Stores, StorySummary, TurnLine, view_key
from bot.store.migrate import downgrade, upgrade


async def _scene(stores: Stores) -> tuple[int, int, int, int]:
    """A scene with player Rook (user 5) present and NPCs Marta (in the cast) and Ivo (not)."""
    scene = await stores.scenes.start(guild_id=1, channel_id=7, format="chatml")
    rook = await stores.characters.create(
        guild_id=1, kind="player", name="Rook", owner_id=5, sheet="s"
    )
    marta = await stores.characters.create(guild_id=1, kind="npc", name="Marta", sheet="s")
    ivo = await stores.characters.create(guild_id=1, kind="npc", name="Ivo", sheet="s")
    await stores.scenes.bind_player(scene.id, 5, rook.id)
    await stores.scenes.add_cast(scene.id, marta.id)
    return scene.id, rook.id, marta.id, ivo.id


def _texts(lines: list[TurnLine]) -> list[str]:
    return [line.content for line in lines]


async def _post(stores: Stores, scene: int, rook: int, text: str) -> int:
    turn = await stores.turns.append(
        scene, role="user", speaker="Rook", content=text, character_id=rook
    )
    return turn.id


async def test_a_turn_is_witnessed_by_whoever_was_present(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta, ivo = await _scene(stores)
    before = await _post(stores, scene, rook, "The password is heron.")
    await stores.scenes.add_cast(scene, ivo)
    after = await _post(stores, scene, rook, "Welcome, Ivo.")
    assert await stores.turns.witnesses([before, after]) == {
        before: {rook, marta},
        after: {rook, marta, ivo},
    }
    assert _texts(await stores.turns.lines(scene, 10, witness=ivo)) == ["Welcome, Ivo."]
    assert _texts(await stores.turns.lines(scene, 10, witness=marta)) == [
        "The password is heron.",
        "Welcome, Ivo.",
    ]
    # Leaving keeps what it witnessed; coming back does not tell it what it missed.
    await stores.scenes.remove_cast(scene, ivo)
    await _post(stores, scene, rook, "Ivo is gone; the key is under the mat.")
    await stores.scenes.add_cast(scene, ivo)
    await _post(stores, scene, rook, "Ivo, you are back.")
    assert _texts(await stores.turns.lines(scene, 10, witness=ivo)) == [
        "Welcome, Ivo.",
        "Ivo, you are back.",
    ]
    seen_after = await stores.turns.lines_after(scene, 0, 10, witness=ivo)
    assert _texts(seen_after) == ["Welcome, Ivo.", "Ivo, you are back."]
    assert len(await stores.turns.lines(scene, 10)) == 4  # the whole scene


async def test_a_player_who_left_witnesses_nothing_until_they_enter(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta, _ = await _scene(stores)
    assert await stores.scenes.set_present(scene, 5, False) is True
    assert await stores.scenes.set_present(scene, 5, False) is False
    assert await stores.scenes.set_present(scene, 6, False) is None
    said = await stores.turns.append(scene, role="model", speaker="Marta", content="Alone now.")
    assert await stores.turns.witnesses([said.id]) == {said.id: {marta}}
    assert await stores.scenes.players(scene, present_only=True) == []
    await stores.scenes.set_present(scene, 5, True)
    assert [c.id for _, c in await stores.scenes.players(scene, present_only=True)] == [rook]
    # A character's own post is always its own to remember, present or not.
    await stores.scenes.set_present(scene, 5, False)
    own = await _post(stores, scene, rook, "I shout from outside.")
    assert rook in (await stores.turns.witnesses([own]))[own]


async def test_a_whisper_reaches_its_audience_only(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta, ivo = await _scene(stores)
    await stores.scenes.add_cast(scene, ivo)
    await _post(stores, scene, rook, "Evening, all.")
    whisper = await stores.turns.append(
        scene,
        role="user",
        speaker="Rook",
        content="Marta, the password is heron.",
        character_id=rook,
        kind="whisper",
        audience=[marta],
    )
    assert await stores.turns.witnesses([whisper.id]) == {whisper.id: {rook, marta}}
    assert "Marta, the password is heron." in _texts(
        await stores.turns.lines(scene, 10, witness=marta)
    )
    assert _texts(await stores.turns.lines(scene, 10, witness=ivo)) == ["Evening, all."]
    assert _texts(await stores.turns.lines(scene, 10, witness=PUBLIC)) == ["Evening, all."]
    marked = await stores.turns.lines_after(scene, 0, 10)
    assert [line.kind for line in marked] == ["post", "whisper"]


async def test_a_private_turn_is_its_authors_alone(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, _, _ = await _scene(stores)
    roll = await stores.turns.append(
        scene, role="user", speaker="Rook", content="rolls", character_id=rook, private=True
    )
    assert await stores.turns.witnesses([roll.id]) == {roll.id: {rook}}


async def test_own_view_is_told_apart_from_the_shared_one(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta, ivo = await _scene(stores)
    first = await _post(stores, scene, rook, "Hello.")
    await stores.scenes.add_cast(scene, ivo)
    second = await _post(stores, scene, rook, "Hello, Ivo.")
    last = await stores.turns.get(second)
    assert not await stores.turns.has_own_view(scene, marta, last.seq)
    assert await stores.turns.has_own_view(scene, ivo, last.seq)  # it missed "Hello."
    await stores.turns.mark_deleted(first)
    assert not await stores.turns.has_own_view(scene, ivo, last.seq)  # nothing left to miss
    tell = await stores.turns.append(
        scene, role="narration", speaker="GM", content="Ivo knows.", kind="tell", audience=[ivo]
    )
    assert not await stores.turns.has_own_view(scene, ivo, last.seq)
    assert await stores.turns.has_own_view(scene, ivo, tell.seq)
    assert not await stores.turns.has_own_view(scene, marta, tell.seq)


async def test_summaries_are_kept_per_view(db: Database) -> None:
    stores = Stores.over(db)
    scene, _, marta, _ = await _scene(stores)
    shared, own = StorySummary("All saw it.", 3), StorySummary("Marta saw more.", 4)
    await stores.summaries.put(scene, shared)
    await stores.summaries.put(scene, own, view_key(marta))
    assert await stores.summaries.get(scene) == shared
    assert await stores.summaries.get(scene, view_key(marta)) == own
    assert await stores.summaries.views(scene) == {"": shared, view_key(marta): own}
    assert not await stores.summaries.replace(
        scene, StorySummary("x", 5), expect=shared, view=view_key(marta)
    )
    assert await stores.summaries.clear(scene)
    assert await stores.summaries.views(scene) == {}


async def test_old_turns_count_as_witnessed_by_everyone(db_url: str) -> None:
    await upgrade(db_url, "0008_pause_and_mute")
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO scenes (id, guild_id, channel_id, format, reply_mode,"
                    " max_replies, active, mechanics, player_stats, paused, created_at,"
                    " updated_at) VALUES (1, 1, 7, 'chatml', 'auto', 3, true, false, false,"
                    " false, '2026-01-01', '2026-01-01')"
                )
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO turns (scene_id, seq, role, speaker, content, swipes,"
                    " swipe_index, edited, deleted, pending, greeting, kind, private,"
                    " created_at, updated_at) VALUES (1, 1, 'user', 'Rook', 'Old news.',"
                    " '[]', 0, false, false, false, false, 'post', false, '2026-01-01',"
                    " '2026-01-01')"
                )
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO scene_summaries (scene_id, text, summary_through, updated_at)"
                    " VALUES (1, 'Long ago.', 0, '2026-01-01')"
                )
            )
        await upgrade(db_url)
        stores = Stores.over(db)
        late = await stores.characters.create(guild_id=1, kind="npc", name="Late", sheet="s")
        assert _texts(await stores.turns.lines(1, 10, witness=late.id)) == ["Old news."]
        assert await stores.summaries.get(1) == StorySummary("Long ago.", 0)
        whisper = await stores.turns.append(
            1, role="user", speaker="Rook", content="psst", kind="whisper", audience=[late.id]
        )
        await downgrade(db_url, "0008_pause_and_mute")
        async with db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text("SELECT kind, private FROM turns WHERE id = :id"), {"id": whisper.id}
                )
            ).one()
            summary = (await conn.execute(sa.text("SELECT text FROM scene_summaries"))).one()
        # Downgraded, a whisper is kept out of every prompt rather than shared with all.
        assert (row[0], bool(row[1])) == ("post", True)
        assert summary[0] == "Long ago."
    finally:
        await db.dispose()


async def test_secrets_are_not_the_channels_history(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta, _ = await _scene(stores)
    await _post(stores, scene, rook, "In the open.")
    await stores.turns.append(
        scene,
        role="model",
        speaker="Marta",
        content="Only for you: heron.",
        character_id=marta,
        kind="whisper",
        audience=[rook],
    )
    # Nothing to swipe, undo or answer in the channel: the latest turn there is the open one.
    last = await stores.turns.last(scene)
    assert last is not None and last.content == "In the open."
    assert await stores.turns.posts_after(scene, 0) == ["In the open."]


async def test_a_post_with_an_audience_is_a_whisper(db: Database) -> None:
    stores = Stores.over(db)
    scene, rook, marta, ivo = await _scene(stores)
    await stores.scenes.add_cast(scene, ivo)
    answer = await stores.turns.append(
        scene, role="model", speaker="Marta", content="Heron.", character_id=marta, audience=[rook]
    )
    assert answer.kind == "whisper"
    assert await stores.turns.lines(scene, 10, witness=PUBLIC) == []
    assert await stores.turns.lines(scene, 10, witness=ivo) == []
