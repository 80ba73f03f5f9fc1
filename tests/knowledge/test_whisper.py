"""`/whisper` with a scripted engine: stored for two, answered privately, never racing a round."""

from __future__ import annotations

import asyncio

import pytest

from bot.channel.ports import IncomingMessage
from bot.channel.sessions import ChannelSession
from bot.domain import CancelToken
from bot.errors import UserError
from bot.knowledge.rules import WHISPER_MAX_CHARS
from bot.scenes.service import SceneCommands
from bot.store import Database
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    BlockingEngine,
    WatchedLock,
    alice,
    bob,
    build,
    first_of,
    gm,
    within_guard,
)
from tests.knowledge.helpers import table
from tests.scripted_engine import ScriptedEngine


def _post(message_id: int, text: str) -> IncomingMessage:
    return IncomingMessage(
        message_id=message_id,
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id=ALICE,
        author_name="Alice",
        content=text,
    )


async def test_a_whisper_is_stored_for_two_and_answered_privately(db: Database) -> None:
    engine = ScriptedEngine(texts=["Meet me at the pier at midnight."])
    tavern = build(db, engine=engine)
    t = await table(tavern, "Marta", "Rook")
    await tavern.stores.scenes.update(t.scene_id, max_replies=3)
    assert t.ayla is not None
    marta, rook = t.npcs["Marta"], t.npcs["Rook"]
    posts = len(tavern.poster.posts)

    reply = await t.knowledge.whisper(alice(), "marta", "  Who sold the ledger?  ", t.hear)

    assert t.heard == ["*Ayla whispers to **Marta**:* Who sold the ledger?"]
    assert reply.ephemeral
    assert reply.text == "**Marta** *(only you hear this)*: Meet me at the pier at midnight."
    assert len(tavern.poster.posts) == posts, "nothing is posted in the channel"
    whisper, answer = (await t.turns())[-2:]
    assert (whisper.kind, whisper.role, whisper.speaker, whisper.content) == (
        "whisper",
        "user",
        "Ayla",
        "Who sold the ledger?",
    )
    assert (whisper.character_id, whisper.author_id) == (t.ayla.id, ALICE)
    assert (answer.role, answer.speaker, answer.pending) == ("model", "Marta", False)
    assert answer.content == "Meet me at the pier at midnight."
    witnessed = await tavern.stores.turns.witnesses([whisper.id, answer.id])
    assert witnessed == {whisper.id: {t.ayla.id, marta.id}, answer.id: {t.ayla.id, marta.id}}
    # One forced turn for Marta, whatever the scene's cap: no speaker or floor was asked.
    assert [r.prompt.text.endswith("Marta:") for r in engine.requests] == [True]
    assert "Who sold the ledger?" in engine.requests[0].prompt.text
    rook_reads = await tavern.stores.turns.lines(t.scene_id, 50, witness=rook.id)
    assert not {whisper.id, answer.id} & {line.id for line in rook_reads}


async def test_bad_whispers_get_one_line_and_store_nothing(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    await tavern.stores.characters.create(
        guild_id=GUILD, kind="npc", name="Ivo", sheet="**Character Name**: Ivo"
    )
    before = [turn.id for turn in await t.turns()]
    refusals = {
        "Ivo is not in this scene's cast.": (alice(), "Ivo", "Hello."),
        "Nobody here is not in this scene's cast.": (alice(), "Nobody\n here", "Hello."),
        "You cannot whisper to yourself.": (alice(), "ayla", "Hello."),
        "You have no character in this scene: create one or /character use.": (
            bob(),
            "Marta",
            "Hello.",
        ),
        "The whisper is empty.": (alice(), "Marta", "   "),
        f"The whisper is limited to {WHISPER_MAX_CHARS:,} characters.": (
            alice(),
            "Marta",
            "x" * (WHISPER_MAX_CHARS + 1),
        ),
    }
    for text, (who, npc, words) in refusals.items():
        with pytest.raises(UserError) as refused:
            await t.knowledge.whisper(who, npc, words, t.hear)
        assert str(refused.value) == text and "\n" not in text
    with pytest.raises(UserError, match="no scene in this channel"):
        await t.knowledge.whisper(alice(channel_id=CHANNEL + 1), "Marta", "Hello.", t.hear)
    assert [turn.id for turn in await t.turns()] == before and t.heard == []


async def test_an_away_character_cannot_whisper(db: Database) -> None:
    tavern = build(db)
    t = await table(tavern, "Marta")
    await t.knowledge.set_present(alice(), False)
    with pytest.raises(UserError, match=r"^Ayla is away: /scene enter first.$"):
        await t.knowledge.whisper(alice(), "Marta", "Psst.", t.hear)
    await t.knowledge.set_present(alice(), True)
    await t.knowledge.whisper(alice(), "Marta", "Psst.", t.hear)
    assert t.heard


async def test_a_whisper_waits_for_the_running_round(db: Database) -> None:
    engine = ScriptedEngine(texts=["Public reply.", "Private reply."], floors=["user"] * 4)
    engine.gate = asyncio.Event()
    tavern = build(db, engine=engine)
    t = await table(tavern, "Marta")
    lock = WatchedLock()
    tavern.services.sessions.get(CHANNEL).lock = lock
    post = asyncio.create_task(t.says(1, "Evening, Marta."))
    await within_guard(engine.started.wait())  # the public round is generating

    whisper = asyncio.create_task(t.knowledge.whisper(alice(), "Marta", "Psst.", t.hear))
    await first_of(whisper, lock.someone_waits.wait())
    assert not whisper.done() and t.heard == []
    assert "whisper" not in [turn.kind for turn in await t.turns()]

    engine.gate.set()
    reply = await within_guard(whisper)
    await within_guard(post)
    assert reply.text.endswith("Private reply.")
    assert [(turn.speaker, turn.content) for turn in await t.turns()] == [
        ("Ayla", "Evening, Marta."),
        ("Marta", "Public reply."),
        ("Ayla", "Psst."),
        ("Marta", "Private reply."),
    ]


async def test_a_whisper_stops_the_work_after_a_round(db: Database) -> None:
    tavern = build(db, engine=ScriptedEngine(texts=["Public.", "Private."], floors=["user"]))
    t = await table(tavern, "Marta")
    working, stopped = asyncio.Event(), asyncio.Event()

    async def chore(session: ChannelSession, cancel: CancelToken) -> None:
        working.set()
        while not cancel.cancelled:  # like the story so far, it stops at its next token
            await asyncio.sleep(0)
        stopped.set()

    tavern.services.sessions.after_rounds(chore)
    await tavern.services.play.on_message(_post(1, "Evening, Marta."))
    await within_guard(working.wait())
    reply = await within_guard(t.knowledge.whisper(alice(), "Marta", "Psst.", t.hear))
    assert stopped.is_set() and reply.text.endswith("Private.")


async def test_a_paused_scene_keeps_the_whisper_and_answers_nothing(db: Database) -> None:
    engine = ScriptedEngine(texts=["Should not be said."])
    tavern = build(db, engine=engine)
    t = await table(tavern, "Marta")
    await t.scenes.pause(gm())
    reply = await t.knowledge.whisper(alice(), "Marta", "Are you awake?", t.hear)
    assert reply.text == "Marta heard you, but the scene is paused: no answer comes."
    assert t.heard and engine.requests == []
    assert [turn.kind for turn in await t.turns()] == ["whisper"]

    # Resuming answers the public posts that waited, never a whisper.
    resumed = await t.scenes.resume(gm())
    await tavern.services.sessions.wait_idle()
    assert resumed.text == "Scene resumed." and engine.requests == []


async def test_ending_the_scene_stops_the_answer_and_keeps_nothing_of_it(db: Database) -> None:
    engine = BlockingEngine()
    engine.block = True
    tavern = build(db, engine=engine)
    t = await table(tavern, "Marta")
    whisper = asyncio.create_task(t.knowledge.whisper(alice(), "Marta", "Run.", t.hear))
    await within_guard(engine.blocked.wait())
    await within_guard(tavern.services.get(SceneCommands).end(gm()))
    reply = await within_guard(whisper)
    assert reply.text == "Marta heard you, but the scene changed before they could answer."
    assert engine.finished
    assert [(turn.kind, turn.content) for turn in await t.turns()] == [("whisper", "Run.")]
