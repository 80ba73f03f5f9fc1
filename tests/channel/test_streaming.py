"""NPC turns shown as they are written: first sentence, edits, the stored text; taken down when
the round stops; consistent with the store at every step (a crash leaves a pending turn)."""

from __future__ import annotations

import asyncio
import itertools

from bot.channel.ports import IncomingMessage
from bot.channel.visible import name_markers
from bot.scenes.service import SceneCommands
from bot.store import Database, Stores, Turn
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    Tavern,
    build,
    gm,
    within_guard,
)
from tests.channel.streaming_helpers import LiveRecordingPoster, PacedEngine, in_step, words

OTHERS = ("Rook",)  # the other NPC: Marta's reply is cut at a line of his
TEXT = '*Marta wipes the counter.* The fog is in early.\nShe looks up. "You again? Sit."'
CUT = 'Fine, fine.\n*Rook: nods and leaves*\nRook: I am off.\nAyla: Bye. "Rook: no."'


async def _scene(tavern: Tavern) -> int:
    """Marta and Rook in CHANNEL; the scene's id."""
    services, stores = tavern.services, tavern.stores
    await services.get(SceneCommands).start(gm(), "group-inst")
    for name in ("Marta", "Rook"):
        await stores.characters.create(
            guild_id=GUILD, kind="npc", name=name, sheet=f"**Character Name**: {name}"
        )
        await services.get(SceneCommands).add_npc(gm(), name)
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    return scene.id


def _live(db: Database, *replies: str) -> tuple[Tavern, LiveRecordingPoster, PacedEngine]:
    poster = LiveRecordingPoster()
    engine = PacedEngine([words(reply) for reply in replies])
    engine.pace = in_step(poster, "Marta", OTHERS)
    tavern = build(db, engine=engine, poster=poster)
    return tavern, poster, engine


async def _rows(stores: Stores, scene_id: int) -> list[Turn]:
    """Every stored row of the scene, deleted ones too."""
    return [t async for t in stores.turns.iter_all(scene_id, include_deleted=True)]


def _has_cut_line(text: str) -> bool:
    markers = name_markers("Marta", OTHERS)
    return any(line.lstrip().lstrip("*_\"'").startswith(markers) for line in text.split("\n"))


async def test_a_turn_is_posted_at_its_first_sentence_and_ends_as_stored(db: Database) -> None:
    tavern, poster, _ = _live(db, TEXT)
    scene_id = await _scene(tavern)
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))

    kinds = [kind for kind, _, _ in poster.shown]
    assert kinds[0] == "post" and kinds[-1] == "final" and set(kinds[1:-1]) == {"edit"}
    assert poster.shown[0][2] == "*Marta wipes the counter.*"
    texts = [text for _, _, text in poster.shown]
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(texts))
    [ids] = {tuple(ids) for _, ids, _ in poster.shown}
    turn = await tavern.stores.turns.by_message_id(ids[0])
    assert turn is not None and not turn.pending and turn.message_ids == list(ids)
    assert texts[-1] == turn.content == TEXT
    # The placeholder the messages were recorded on while it was written is gone.
    assert [(t.role, t.deleted) for t in await _rows(tavern.stores, scene_id)] == [("model", False)]
    assert await tavern.stores.turns.pending() == []
    assert poster.controls[-1] == (ids[-1], turn.id) and poster.notices == []


async def test_a_line_as_another_character_is_never_shown(db: Database) -> None:
    tavern, poster, _ = _live(db, CUT)
    await _scene(tavern)
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))

    assert [text for _, _, text in poster.shown] == ["Fine, fine."]  # nothing more to show
    assert not any(_has_cut_line(text) for _, _, text in poster.shown)
    turn = await tavern.stores.turns.by_message_id(poster.shown[0][1][0])
    assert turn is not None and turn.content == "Fine, fine." and not turn.pending


async def test_a_stopped_round_takes_its_message_down(db: Database) -> None:
    tavern, poster, engine = _live(db, "Marta turns. She reaches for the")
    engine.hold = True
    scene_id = await _scene(tavern)
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(engine.holding.wait())
    [(_, ids, shown)] = poster.shown
    assert shown == "Marta turns."

    tavern.services.sessions.get(CHANNEL).halt()
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))
    assert poster.deleted == [(CHANNEL, ids)]
    assert await _rows(tavern.stores, scene_id) == []  # neither the turn nor its placeholder
    assert poster.notices == []


async def test_a_crash_while_writing_leaves_a_pending_turn_the_next_start_takes_down(
    db: Database,
) -> None:
    tavern, poster, engine = _live(db, "Marta turns. She reaches for the")
    engine.hold = True
    scene_id = await _scene(tavern)
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(engine.holding.wait())
    [(_, ids, _)] = poster.shown
    [pending] = await tavern.stores.turns.pending()
    assert pending.message_ids == ids and pending.speaker == "Marta"

    # The process dies here; the next one starts over the same database.
    after = LiveRecordingPoster()
    again = build(db, engine=PacedEngine([]), poster=after)
    assert await again.services.recovery.discard_unposted() == 1
    assert after.deleted == [(CHANNEL, ids)]
    assert await again.stores.turns.pending() == []
    assert await _rows(again.stores, scene_id) == []  # the placeholder leaves no row behind

    tavern.services.sessions.get(CHANNEL).halt()  # let the first run's round end
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))
    assert await _rows(tavern.stores, scene_id) == []  # the placeholder went altogether


async def test_a_message_deleted_while_written_withdraws_the_turn(db: Database) -> None:
    poster = LiveRecordingPoster()
    engine = PacedEngine([words("Marta turns. She reaches for the lamp. It is cold.")])
    tavern = build(db, engine=engine, poster=poster)
    scene_id = await _scene(tavern)
    in_step_pace = in_step(poster, "Marta", OTHERS)

    async def pace(text: str) -> None:
        if not poster.gone:
            await in_step_pace(text)
        if poster.shown and not poster.gone:  # a moderator deletes the first post
            message_id = poster.shown[0][1][0]
            poster.gone.add(message_id)
            await tavern.services.play.on_delete([message_id])

    engine.pace = pace
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))

    assert poster.notices == [] and await tavern.stores.turns.pending() == []
    rows = await _rows(tavern.stores, scene_id)
    assert [(t.speaker, t.deleted) for t in rows if t.content] == [("Marta", True)]
    assert all(t.deleted for t in rows)


async def test_a_post_while_a_turn_is_written_keeps_its_place(db: Database) -> None:
    """A player's post stored while the turn streams sits before it, as without streaming."""
    tavern, poster, engine = _live(db, TEXT)
    scene_id = await _scene(tavern)
    pace = engine.pace
    assert pace is not None
    posted = asyncio.Event()

    async def post_meanwhile(text: str) -> None:
        await pace(text)
        if poster.shown and not posted.is_set():
            posted.set()
            message = IncomingMessage(900, CHANNEL, GUILD, ALICE, "Alice", "Ayla waits.")
            await tavern.services.play.on_message(message)

    engine.pace = post_meanwhile
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))
    history = await tavern.stores.turns.window(scene_id, 10)
    assert [(t.speaker, t.content) for t in history][:2] == [
        ("Alice", "Ayla waits."),
        ("Marta", TEXT),
    ]
