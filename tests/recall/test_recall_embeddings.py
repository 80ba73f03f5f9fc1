"""Recall by meaning (RECALL_EMBED_MODEL) on both databases: stored, used, and the same views.

The demo model (SmolLM2-135M, a causal LM, not an embedding model) stands in for an embedding
GGUF: what it calls near means little, so each claim here rests on a text asked again word for
word (its own vector is the nearest) in words recall cannot search with (all stop words), so
only the path by meaning can find it. Small scenes: every turn is embedded by the real model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.channel.sessions import Trigger
from bot.director.types import RecallFound, RecallQuery
from bot.domain import CancelToken, Sampler
from bot.recall import embedder as embedding
from bot.recall.service import RecallCommands, plug_recall
from bot.recall.source import SceneRecall
from bot.scenes.views import SceneViews
from bot.settings import bundled_demo_model, load_settings
from bot.store import SHARED_VIEW, Database, view_key
from bot.store.migrate import downgrade, upgrade
from bot.store.models import RecallEmbedding, SceneChapter
from tests.channel.helpers import CHANNEL, build, marta_scene, within_guard
from tests.recall.helpers import (
    FACT,
    MARA_SHEET,
    QUESTION,
    Campaign,
    bulk_turns,
    campaign,
    director,
    filler,
)

# No word of it is searched with: only its meaning can bring it back.
ECHO = "Would you have done that for them?"
DEMO = bundled_demo_model()


@pytest.fixture
async def sources() -> AsyncIterator[list[SceneRecall]]:
    """The recall sources a test plugs: their models are freed after it."""
    made: list[SceneRecall] = []
    yield made
    for source in made:
        if source.embedder is not None:
            await source.embedder.close()


def plug(game: Campaign, sources: list[SceneRecall], **settings: object) -> SceneRecall:
    """Recall for the campaign's views, with the demo model as RECALL_EMBED_MODEL by default."""
    settings.setdefault("recall_embed_model", DEMO)
    views = SceneViews(game.stores, Sampler(seed=1))
    source = plug_recall(views, game.stores, load_settings(**settings))
    sources.append(source)
    return source


async def ask(source: SceneRecall, game: Campaign, who: str, last: int, text: str) -> RecallFound:
    """What `who`'s prompt recalls when the window starts at turn id `last`, saying `text`."""
    seq = (await game.stores.turns.get(last)).seq
    sheet = MARA_SHEET if who == "Mara" else f"**Character Name**: {who}"
    query = RecallQuery(game.scene_id, game.ids[who], who, sheet, (text,), before_seq=seq)
    return await source.recall(query)


async def vectors(db: Database) -> dict[int | None, bytes]:
    """Turn id → stored vector (chapter vectors under None)."""
    async with db.session() as s:
        rows = await s.execute(sa.select(RecallEmbedding.turn_id, RecallEmbedding.vector))
        return {row[0]: row[1] for row in rows}


def refs(found: RecallFound) -> dict[int, tuple[str, ...]]:
    """The turns found, with the words each matched."""
    return {m.ref: m.terms for m in found.memories if not m.chapter}


async def test_embeddings_are_stored_and_ranked_with_the_words(
    db: Database, sources: list[SceneRecall]
) -> None:
    game = await campaign(db)
    fact = game.fact_id = await game.say("Rook", FACT)
    echo = await game.say("Rook", ECHO)
    ooc = await game.say("Rook", f"(( {ECHO} ))")
    await bulk_turns(db, game.scene_id, filler(3))
    last = await game.say("Rook", QUESTION)
    source = plug(game, sources)
    assert source.embedder is not None and not source.embedder.loaded
    assert await source.catch_up(game.scene_id, limit=None) == 7
    stored = await vectors(db)
    assert len(stored) == 7 and stored[ooc] == b""  # an OOC aside is never embedded
    assert {len(v) for t, v in stored.items() if t != ooc} == {4 * 576}  # float32 bytes
    assert await source.catch_up(game.scene_id, limit=None) == 0  # nothing left to embed
    # The fact comes back by its words, ranked with its meaning.
    found = await ask(source, game, "Mara", last, QUESTION)
    assert {"silver", "key"} <= set(refs(found)[fact])
    # A turn with no word to search with comes back by its meaning alone; never the aside.
    by_meaning = await ask(source, game, "Mara", last, ECHO)
    assert refs(by_meaning).get(echo) == ()
    assert ooc not in refs(by_meaning)
    # Without the model, the same question finds nothing to search with.
    words_only = plug(game, sources, recall_embed_model=None)
    assert (await ask(words_only, game, "Mara", last, ECHO)).memories == ()


async def test_a_whisper_never_comes_back_by_meaning_to_who_did_not_hear_it(
    db: Database, sources: list[SceneRecall]
) -> None:
    game = await campaign(db)
    await game.stores.scenes.add_cast(game.scene_id, game.ids["Ivo"])
    whisper = await game.say("Rook", ECHO, audience=[game.ids["Ivo"]])
    private = await game.say("Rook", ECHO, private=True)
    await bulk_turns(db, game.scene_id, filler(3))
    last = await game.say("Rook", ECHO)  # now said aloud, to everyone
    source = plug(game, sources)
    await source.catch_up(game.scene_id, limit=None)
    assert whisper in await vectors(db)  # stored: Ivo may recall it
    ivo = await ask(source, game, "Ivo", last, ECHO)
    assert refs(ivo).get(whisper) == ()
    mara = await ask(source, game, "Mara", last, ECHO)
    assert whisper not in refs(mara) and private not in refs(mara) | refs(ivo)
    assert all("Would you" not in m.text for m in mara.memories)


async def test_chapters_come_back_by_meaning_only_from_the_speakers_story(
    db: Database, sources: list[SceneRecall]
) -> None:
    game = await campaign(db)
    await game.stores.scenes.add_cast(game.scene_id, game.ids["Ivo"])
    await bulk_turns(db, game.scene_id, filler(3))
    last = await game.say("Rook", ECHO)
    async with db.session() as s:
        for view, title in ((SHARED_VIEW, "Ours"), (view_key(game.ids["Ivo"]), "His")):
            s.add(
                SceneChapter(
                    scene_id=game.scene_id,
                    view=view,
                    title=title,
                    text=ECHO,
                    first_seq=1,
                    last_seq=2,
                )
            )
        await s.commit()
    source = plug(game, sources)
    assert await source.catch_up(game.scene_id, limit=None) == 6  # two chapters, four turns
    found = await ask(source, game, "Mara", last, ECHO)
    chapters = [m for m in found.memories if m.chapter]
    assert [m.speaker for m in chapters] == ["Ours"] and chapters[0].terms == ()


async def test_a_deleted_turn_leaves_recall_and_its_vector_goes(
    db: Database, sources: list[SceneRecall]
) -> None:
    game = await campaign(db)
    echo = await game.say("Rook", ECHO)
    await bulk_turns(db, game.scene_id, filler(3))
    last = await game.say("Rook", ECHO)
    source = plug(game, sources)
    await source.catch_up(game.scene_id, limit=None)
    assert echo in refs(await ask(source, game, "Mara", last, ECHO))
    await game.stores.turns.mark_deleted(echo)
    # At once, though its vector is still stored and held in memory.
    assert echo in await vectors(db)
    assert echo not in refs(await ask(source, game, "Mara", last, ECHO))
    await source.catch_up(game.scene_id)  # the next round's chores
    assert echo not in await vectors(db)
    assert echo not in refs(await ask(source, game, "Mara", last, ECHO))


async def test_an_edited_turn_is_found_by_what_it_says_now(
    db: Database, sources: list[SceneRecall]
) -> None:
    game = await campaign(db)
    echo = await game.say("Rook", ECHO)
    await bulk_turns(db, game.scene_id, filler(3))
    last = await game.say("Rook", ECHO)
    source = plug(game, sources)
    await source.catch_up(game.scene_id, limit=None)
    assert echo in refs(await ask(source, game, "Mara", last, ECHO))
    now = "Was it the one you had with him?"
    await game.stores.turns.edit(echo, now)
    # Its vector is of the old text: never compared again.
    assert echo not in refs(await ask(source, game, "Mara", last, ECHO))
    assert await source.catch_up(game.scene_id) == 1  # embedded again, alone
    assert refs(await ask(source, game, "Mara", last, now)).get(echo) == ()


async def test_the_round_chores_embed_a_scene_and_a_cancelled_round_stops_them(
    db: Database,
) -> None:
    tavern = build(db, recall_embed_model=DEMO)
    recall = tavern.services.get(RecallCommands)
    try:
        scene_id = await marta_scene(tavern)
        await bulk_turns(db, scene_id, [FACT, *filler(2)])
        cancelled = CancelToken()
        cancelled.cancel()
        assert await recall.source.catch_up(scene_id, cancelled) == 0
        sessions = tavern.services.sessions
        sessions.trigger(CHANNEL, Trigger())
        await within_guard(sessions.wait_idle(CHANNEL))
        assert tavern.poster.posts, "the round posted"
        async with db.session() as s:
            turns = await s.scalar(sa.select(sa.func.count()).select_from(sa.table("turns")))
        assert len(await vectors(db)) == turns  # the posted reply too
    finally:
        await recall.close()


async def test_off_by_default_nothing_loads_and_nothing_is_stored(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the embedding model loaded")

    monkeypatch.setattr(embedding.Embedder, "_load", refuse)
    tavern = build(db)
    recall = tavern.services.get(RecallCommands)
    assert recall.source.embedder is None and recall.source.meaning is None
    scene_id = await marta_scene(tavern)
    await bulk_turns(db, scene_id, [FACT, *filler(40), QUESTION])
    sessions = tavern.services.sessions
    sessions.trigger(CHANNEL, Trigger())
    await within_guard(sessions.wait_idle(CHANNEL))
    assert tavern.poster.posts
    assert await recall.source.catch_up(scene_id, limit=None) == 0
    assert await vectors(db) == {}


async def test_the_migration_adds_and_drops_the_vectors(db_url: str) -> None:
    await upgrade(db_url)
    db = Database(db_url)
    try:
        game = await campaign(db)
        turn = await game.say("Rook", FACT)
        async with db.session() as s:
            s.add(
                RecallEmbedding(
                    scene_id=game.scene_id,
                    turn_id=turn,
                    model="m:1",
                    digest=embedding.digest(FACT),
                    vector=b"\x00" * 8,
                    read_at=datetime.now(UTC),
                )
            )
            await s.commit()
        assert await vectors(db) == {turn: b"\x00" * 8}
        await db.dispose()
        await downgrade(db_url, "0011_table_and_voices")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert "recall_embeddings" not in names and "turns" in names
        await db.dispose()
        await upgrade(db_url)
        assert await vectors(db) == {}  # made again by the next rounds
        assert (await game.stores.turns.get(turn)).content == FACT
    finally:
        await db.dispose()


async def test_an_npcs_prompt_recalls_by_meaning_only_what_it_witnessed(
    db: Database, sources: list[SceneRecall]
) -> None:
    game = await campaign(db)
    await game.stores.scenes.add_cast(game.scene_id, game.ids["Ivo"])
    whisper = await game.say("Rook", ECHO, audience=[game.ids["Ivo"]])
    await bulk_turns(db, game.scene_id, filler(30))
    for said in ("And then?", "What was that?", ECHO):  # the words of recall: none telling
        await game.say("Rook", said)
    views = SceneViews(game.stores, Sampler(seed=1))
    source = plug_recall(views, game.stores, load_settings(recall_embed_model=DEMO))
    sources.append(source)
    await source.catch_up(game.scene_id, limit=None)
    view = await views.view(await game.stores.scenes.get(game.scene_id))
    turns = director(game, n_ctx=640)
    ivo, mara = [await turns.build_prompt(view, name) for name in ("Ivo", "Mara")]
    assert all(t.id != whisper for t in ivo.history)  # out of the window: only recall has it
    assert [m.terms for m in ivo.recall.placed if m.ref == whisper] == [()]  # by meaning
    assert all(m.ref != whisper for m in (*mara.recall.placed, *mara.recall.left_out))
