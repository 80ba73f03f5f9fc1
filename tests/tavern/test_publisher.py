"""Posting turns without loss: part by part, whole or not at all, rewrites kept in step."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.store import Database, Turn
from bot.tavern.common import IncomingMessage, PartSent, UserError
from tests.scripted_engine import ScriptedEngine
from tests.tavern.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    RecordingPoster,
    Tavern,
    alice,
    build,
    gm,
    within_guard,
)

FIRST, SECOND = "Marta smiles at the door.", "Marta frowns."


class HalfwayPoster(RecordingPoster):
    """Sends the first `parts` messages of a post, then Discord fails (optionally deletes too)."""

    def __init__(self, parts: int = 2, *, deletes_fail: bool = False) -> None:
        super().__init__()
        self.parts = parts
        self.deletes_fail = deletes_fail

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        for _ in range(self.parts):
            await on_part(self._new_id())
        raise RuntimeError("Discord failed half-way through the post")

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        if self.deletes_fail:
            raise RuntimeError("Discord is down")
        await super().delete_messages(channel_id, message_ids)


class HeldPoster(RecordingPoster):
    """A post that hangs after the turn was stored, until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        self.holding.set()
        await self.release.wait()
        return await super().post_turn(channel_id, speaker, avatar_url, text, on_part)


class RefusingEditPoster(RecordingPoster):
    """Discord refuses the next edit of a turn (the one after that, putting it back, works)."""

    refuse = False

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        self.edits.append((channel_id, list(message_ids), speaker, text))
        if self.refuse:
            self.refuse = False
            raise RuntimeError("Discord refused the edit")
        return list(message_ids)


async def _scene(tavern: Tavern) -> int:
    """A scene with Marta cast; its id."""
    services, stores = tavern.services, tavern.stores
    await services.scenes.start(gm(), "group-inst")
    await stores.characters.create(
        guild_id=GUILD, kind="npc", name="Marta", sheet="**Character Name**: Marta"
    )
    await services.scenes.add_npc(gm(), "Marta")
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    return scene.id


async def _player_says(tavern: Tavern, mid: int, text: str = "Hello Marta.") -> None:
    message = IncomingMessage(mid, CHANNEL, GUILD, ALICE, "Alice", text)
    await tavern.services.play.on_message(message)
    await within_guard(tavern.services.sessions.wait_idle())


async def _every_turn(tavern: Tavern, scene_id: int) -> list[Turn]:
    return [t async for t in tavern.stores.turns.iter_all(scene_id, include_deleted=True)]


def _engine() -> ScriptedEngine:
    return ScriptedEngine(texts=[FIRST, SECOND, "and pours a drink."], floors=["user"] * 4)


async def test_a_post_failing_half_way_takes_its_parts_down(db: Database) -> None:
    tavern = build(db, engine=_engine(), poster=HalfwayPoster(parts=2))
    scene_id = await _scene(tavern)
    await _player_says(tavern, 1)

    player, npc = await _every_turn(tavern, scene_id)
    assert (npc.speaker, npc.message_ids, npc.deleted) == ("Marta", [5001, 5002], True)
    assert tavern.poster.deleted == [(CHANNEL, [5001, 5002])]  # both sent parts, no orphan
    assert [t.id for t in await tavern.stores.turns.window(scene_id, 10)] == [player.id]
    assert tavern.poster.notices == ["The NPCs could not answer; the log has details."]


async def test_parts_that_could_not_be_deleted_go_at_the_next_start(db: Database) -> None:
    tavern = build(db, engine=_engine(), poster=HalfwayPoster(parts=2, deletes_fail=True))
    scene_id = await _scene(tavern)
    await _player_says(tavern, 1)
    [left] = await tavern.stores.turns.pending(scene_id)  # still pending, its parts recorded
    assert left.message_ids == [5001, 5002] and not left.deleted

    restarted = build(db, engine=_engine())
    assert await restarted.services.recovery.discard_unposted() == 1
    assert restarted.poster.deleted == [(CHANNEL, [5001, 5002])]
    assert (await restarted.stores.turns.get(left.id)).deleted
    assert await restarted.stores.turns.pending() == []
    assert await restarted.services.recovery.discard_unposted() == 0


async def test_a_turn_held_before_its_post_is_in_no_prompt_and_cancelling_drops_it(
    db: Database,
) -> None:
    poster = HeldPoster()
    tavern = build(db, engine=_engine(), poster=poster)
    scene_id = await _scene(tavern)
    message = IncomingMessage(1, CHANNEL, GUILD, ALICE, "Alice", "Hello Marta.")
    await tavern.services.play.on_message(message)
    await within_guard(poster.holding.wait())

    [stored] = await tavern.stores.turns.pending(scene_id)
    assert stored.content == FIRST
    prompt = await tavern.services.scenes.prompt(gm())
    assert prompt.file is not None
    text = prompt.file[1].decode()
    assert "Hello Marta." in text and FIRST not in text
    exported = await tavern.services.scenes.export(gm())
    assert exported.file is not None and FIRST not in exported.file[1].decode()

    await within_guard(tavern.services.close())  # the round task is cancelled mid-post
    assert (await tavern.stores.turns.get(stored.id)).deleted
    assert poster.posts == []


async def test_a_swipe_discord_refuses_keeps_the_shown_text(db: Database) -> None:
    poster = RefusingEditPoster()
    tavern = build(db, engine=_engine(), poster=poster)
    scene_id = await _scene(tavern)
    await _player_says(tavern, 1)
    [_, turn] = await _every_turn(tavern, scene_id)

    poster.refuse = True
    with pytest.raises(UserError, match="keeps its old one"):
        await tavern.services.turns.swipe(alice(), turn.id)
    kept = await tavern.stores.turns.get(turn.id)
    assert (kept.content, kept.swipes, kept.swipe_index) == (FIRST, [FIRST], 0)
    # The refused edit, then the old text put back in case a part had changed.
    assert [e[3] for e in poster.edits] == [SECOND, FIRST]

    await tavern.services.turns.swipe(alice(), turn.id)  # a later swipe works as usual
    assert (await tavern.stores.turns.get(turn.id)).swipes == [FIRST, "and pours a drink."]


async def test_a_continue_discord_refuses_keeps_the_shown_text(db: Database) -> None:
    poster = RefusingEditPoster()
    tavern = build(db, engine=_engine(), poster=poster)
    scene_id = await _scene(tavern)
    await _player_says(tavern, 1)
    [_, turn] = await _every_turn(tavern, scene_id)

    poster.refuse = True
    with pytest.raises(UserError, match="keeps its old one"):
        await tavern.services.turns.extend(alice(), turn.id)
    kept = await tavern.stores.turns.get(turn.id)
    assert (kept.content, kept.edited) == (FIRST, False)
    assert poster.edits[0][3] == f"{FIRST} {SECOND}" and poster.edits[1][3] == FIRST
