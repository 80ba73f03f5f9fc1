"""Full-text recall in the store: both databases' own engines, views, deletions and repairs."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store import PUBLIC, Database, Stores
from bot.store.models import SceneChapter
from bot.store.recall import RecallStore
from bot.store.search import fts5_query, search_words, tsquery_text


async def _scene(stores: Stores) -> tuple[int, int, int, int]:
    """Scene with player Rook (present), NPC Marta in the cast and NPC Ivo outside."""
    scene = await stores.scenes.start(guild_id=1, channel_id=7, format="chatml")
    rook = await stores.characters.create(
        guild_id=1, kind="player", name="Rook", owner_id=5, sheet="s"
    )
    marta = await stores.characters.create(guild_id=1, kind="npc", name="Marta", sheet="s")
    ivo = await stores.characters.create(guild_id=1, kind="npc", name="Ivo", sheet="s")
    await stores.scenes.bind_player(scene.id, 5, rook.id)
    await stores.scenes.add_cast(scene.id, marta.id)
    return scene.id, rook.id, marta.id, ivo.id


async def _say(stores: Stores, scene: int, who: int, text: str) -> int:
    turn = await stores.turns.append(
        scene, role="user", speaker="Rook", content=text, character_id=who
    )
    return turn.id


def test_query_words_are_plain_and_bounded() -> None:
    hostile = "key\" OR NEAR(a b) * ^x '; DROP TABLE turns; -- " + "w " * 500
    words = search_words([hostile])
    assert words[:4] == ["key", "or", "near", "a"]
    assert len(words) <= 48
    assert all(word.isalnum() or "_" in word for word in words)
    assert fts5_query(["key", "drop"]) == '"key" OR "drop"'
    assert tsquery_text(["key", "drop"]) == "'key' | 'drop'"


async def test_an_old_turn_comes_back_by_its_words(db: Database) -> None:
    stores, recall = Stores.over(db), RecallStore(db)
    scene, rook, marta, ivo = await _scene(stores)
    planted = await _say(stores, scene, rook, "I hid the silver keys under the lighthouse.")
    for n in range(30):
        await _say(stores, scene, rook, f"We walk on through the fog, hour {n}.")
    found = await recall.turns(
        scene, search_words(["Where is the silver key?"]), witness=marta, limit=3
    )
    assert found and found[0].line.id == planted  # "key" finds "keys": both stem
    assert found[0].score > 0
    # Ivo was not there: nothing of it comes back for Ivo.
    assert await recall.turns(scene, ["silver"], witness=ivo, limit=3) == []
    # Deleted turns, and turns not before the window, never come back.
    line = found[0].line
    assert await recall.turns(scene, ["silver"], witness=None, limit=3, before_seq=line.seq) == []
    await stores.turns.mark_deleted(planted)
    assert await recall.turns(scene, ["silver"], witness=None, limit=3) == []


async def test_whispers_and_edits_in_recall(db: Database) -> None:
    stores, recall = Stores.over(db), RecallStore(db)
    scene, rook, marta, ivo = await _scene(stores)
    await stores.scenes.add_cast(scene, ivo)
    await stores.turns.append(
        scene,
        role="user",
        speaker="Rook",
        content="The password is heron.",
        character_id=rook,
        kind="whisper",
        audience=[marta],
    )
    assert [f.line.content for f in await recall.turns(scene, ["heron"], witness=marta, limit=3)]
    assert await recall.turns(scene, ["heron"], witness=ivo, limit=3) == []
    assert await recall.turns(scene, ["heron"], witness=PUBLIC, limit=3) == []
    said = await _say(stores, scene, rook, "A crow lands.")
    await stores.turns.edit(said, "A raven lands.")
    assert await recall.turns(scene, ["crow"], witness=None, limit=3) == []
    assert len(await recall.turns(scene, ["raven"], witness=None, limit=3)) == 1


async def test_chapters_are_found_within_their_views(db: Database) -> None:
    stores, recall = Stores.over(db), RecallStore(db)
    scene, _, marta, _ = await _scene(stores)
    async with db.session() as s:
        s.add_all(
            [
                SceneChapter(
                    scene_id=scene,
                    view="",
                    title="The harbour",
                    text="They bought a boat from the smugglers.",
                    first_seq=1,
                    last_seq=40,
                ),
                SceneChapter(
                    scene_id=scene,
                    view=f"c{marta}",
                    title="Marta's secret",
                    text="Marta learnt of the smugglers' tunnel.",
                    first_seq=1,
                    last_seq=40,
                ),
            ]
        )
        await s.commit()
    shared = await recall.chapters(scene, [""], ["smugglers"], limit=5)
    assert [c.title for c in shared] == ["The harbour"]
    both = await recall.chapters(scene, ["", f"c{marta}"], ["tunnel"], limit=5)
    assert [c.title for c in both] == ["Marta's secret"]


async def test_a_missing_index_is_rebuilt(db: Database) -> None:
    stores, recall = Stores.over(db), RecallStore(db)
    scene, rook, marta, _ = await _scene(stores)
    await _say(stores, scene, rook, "The lantern is green.")
    assert await recall.repair() is False
    async with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(sa.text("DROP TRIGGER turns_search_insert"))
            await conn.execute(sa.text("DROP TABLE turns_search"))
        else:
            await conn.execute(sa.text("DROP INDEX ix_turns_search"))
    assert await recall.repair() is True
    assert await recall.repair() is False
    found = await recall.turns(scene, ["lantern"], witness=marta, limit=3)
    assert [f.line.content for f in found] == ["The lantern is green."]
    await _say(stores, scene, rook, "The lantern goes out.")  # the triggers are back too
    assert len(await recall.turns(scene, ["lantern"], witness=marta, limit=3)) == 2
