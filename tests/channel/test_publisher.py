"""Posting turns without loss: part by part, whole or not at all, rewrites kept in step."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.channel.ports import IncomingMessage, PartSent
from bot.errors import UserError
from bot.scenes.service import SceneCommands
from bot.store import Database, Turn
from tests.channel.helpers import (
    ALICE,
    CHANNEL,
    GUILD,
    RecordingPoster,
    Tavern,
    build,
    gm,
    marta_scene,
    within_guard,
)
from tests.scripted_engine import ScriptedEngine

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
    scene_id = await marta_scene(tavern)
    await _player_says(tavern, 1)

    player, npc = await _every_turn(tavern, scene_id)
    assert (npc.speaker, npc.message_ids, npc.deleted) == ("Marta", [5001, 5002], True)
    assert tavern.poster.deleted == [(CHANNEL, [5001, 5002])]  # both sent parts, no orphan
    assert [t.id for t in await tavern.stores.turns.window(scene_id, 10)] == [player.id]
    assert tavern.poster.notices == ["The NPCs could not answer; the log has details."]


async def test_parts_that_could_not_be_deleted_go_at_the_next_start(db: Database) -> None:
    tavern = build(db, engine=_engine(), poster=HalfwayPoster(parts=2, deletes_fail=True))
    scene_id = await marta_scene(tavern)
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
    scene_id = await marta_scene(tavern)
    message = IncomingMessage(1, CHANNEL, GUILD, ALICE, "Alice", "Hello Marta.")
    await tavern.services.play.on_message(message)
    await within_guard(poster.holding.wait())

    [stored] = await tavern.stores.turns.pending(scene_id)
    assert stored.content == FIRST
    prompt = await tavern.services.get(SceneCommands).prompt(gm())
    assert prompt.file is not None
    text = prompt.file[1].decode()
    assert "Hello Marta." in text and FIRST not in text
    exported = await tavern.services.get(SceneCommands).export(gm())
    assert exported.file is not None and FIRST not in exported.file[1].decode()

    await within_guard(tavern.services.close())  # the round task is cancelled mid-post
    assert (await tavern.stores.turns.get(stored.id)).deleted
    assert poster.posts == []


@pytest.mark.parametrize(
    ("action", "tried"),
    [("swipe", SECOND), ("extend", f"{FIRST} {SECOND}")],
    ids=["swipe", "continue"],
)
async def test_a_rewrite_discord_refuses_keeps_the_shown_text(
    db: Database, action: str, tried: str
) -> None:
    tavern = build(db, engine=_engine())
    scene_id = await marta_scene(tavern)
    await _player_says(tavern, 1)
    [_, turn] = await _every_turn(tavern, scene_id)

    tavern.poster.refuse_next_edit = True
    with pytest.raises(UserError, match="keeps its old one"):
        await getattr(tavern.services.turns, action)(gm(), turn.id)
    kept = await tavern.stores.turns.get(turn.id)
    assert (kept.content, kept.swipes, kept.swipe_index, kept.edited) == (FIRST, [FIRST], 0, False)
    # The refused edit, then the old text put back in case a part had changed.
    assert [e[3] for e in tavern.poster.edits] == [tried, FIRST]

    await getattr(tavern.services.turns, action)(gm(), turn.id)  # the next one works
    assert (await tavern.stores.turns.get(turn.id)).content != FIRST
