"""End to end: NPC turns appear as they are written (STREAM_POSTS), through the webhook and
without one, ending with exactly the stored text and never showing a line the clean-up cuts."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.channel.text import MESSAGE_LIMIT, split_message
from bot.channel.visible import name_markers, visible_prefix
from bot.engine.base import CancelToken, Completion, GenerationRequest
from tests.e2e import (
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    cast_scene,
    e2e_settings,
    fake_discord,
    forbid_webhooks,
    player_says,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.scripted_engine import ScriptedEngine, request_kind

Json = dict[str, Any]
NESSA = Npc("Nessa", sheet="**Age**: 40 **Biography**: The innkeeper of the Drowned Lantern.")
ROOK = Npc("Rook", sheet="**Age**: 30 **Biography**: A smuggler at the bar.")
PIECE_TIMEOUT = 30.0


def _cut_lines(text: str, speaker: str, others: Sequence[str]) -> list[str]:
    markers = name_markers(speaker, others)
    return [line for line in text.split("\n") if line.lstrip().lstrip("*_\"'").startswith(markers)]


def _turn_messages(fake: FakeDiscord, message_ids: Sequence[int]) -> list[list[str]]:
    """Each message's texts, as posted and after each edit (the fallback's name prefix off)."""
    return [
        [text.removeprefix("**Nessa**: ") for text in fake.versions(message_id)]
        for message_id in message_ids
    ]


# -- the demo model ------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async for fake in fake_discord():
        settings = e2e_settings(fake, tmp_path / "bot.db", max_new_tokens=200)
        bot = await start_bot(fake, settings)
        try:
            yield bot
        finally:
            await stop_bot(bot)


@pytest.mark.model
async def test_a_streamed_turn_ends_as_stored_and_never_shows_a_cut_line(
    running: Running,
) -> None:
    fake = running.fake
    chan = await cast_scene(running, "inn", (NESSA, ROOK), max_replies=1)
    alice = fake.player_ids[0]
    await player_says(running, chan, alice, "Nessa, who came in from the fog tonight? Tell me.")
    [turn] = [t for t in await running.turns(chan, include_deleted=False) if t.role == "model"][-1:]
    assert not turn.pending and turn.message_ids
    others = [n for n in ("Nessa", "Rook", "alice", "bob") if n != turn.speaker]
    versions = [
        [text.removeprefix(f"**{turn.speaker}**: ") for text in fake.versions(m)]
        for m in turn.message_ids
    ]
    final = [texts[-1] for texts in versions]
    assert final == split_message(turn.content, MESSAGE_LIMIT)  # exactly the stored text
    shown = [text for texts in versions for text in texts]
    assert not any(_cut_lines(text, turn.speaker, others) for text in shown), shown
    # It was posted before the turn was whole, then edited up to it.
    first = versions[0][0]
    assert first and turn.content.startswith(first) and first != turn.content, versions
    await running.idle()
    assert await running.core.stores.turns.pending() == []
    assert_no_pings_or_tracebacks(fake)


# -- a scripted reply, kept in step with the channel ----------------------------------------------


class PacedScript(ScriptedEngine):
    """Writes each reply in pieces; after a piece marked to wait, waits until the channel
    shows what may be shown of the text so far (no sleeps: the fake says when)."""

    def __init__(self, replies: Sequence[Sequence[tuple[str, bool]]]) -> None:
        super().__init__(floors=["user"] * 10)
        self.replies = deque(replies)
        self.fake: FakeDiscord | None = None
        self.speaker, self.others = "Nessa", ("Rook", "alice", "bob")

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        if request_kind(request) != "text" or not self.replies:
            return await super().complete(request, cancel, on_text)
        self.requests.append(request)
        text = ""
        for piece, wait in self.replies.popleft():
            text += piece
            if on_text is not None:
                on_text(piece)
            if wait:
                await self._shown(visible_prefix(text, self.speaker, self.others))
        return Completion(text=text, finish_reason="stop")

    async def _shown(self, text: str) -> None:
        assert self.fake is not None
        await self.fake.wait_for_message(
            lambda m: (
                m["source"] in ("webhook", "rest")
                and m["content"].removeprefix("**Nessa**: ") == text
            ),
            timeout=PIECE_TIMEOUT,
        )


SPEAKS_FOR_ROOK = [
    ("*Nessa sets down a mug.* ", True),
    ("Cider, as you asked. ", True),
    ("Mind the step.\n", True),
    ("*Rook: leans in*\nRook: Make it two.", False),
]
LONG = "The fog came in off the water before dusk. " * 90  # about 3,900 characters


def _long_reply() -> list[tuple[str, bool]]:
    """A turn longer than one message: streamed in the first, the rest added at the end."""
    head = LONG[:1200]
    return [(head, True), (LONG[1200:], False)]


@pytest.fixture(params=["webhook", "fallback"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def scripted(tmp_path: Path, mode: str) -> AsyncIterator[tuple[Running, PacedScript]]:
    engine = PacedScript([SPEAKS_FOR_ROOK, _long_reply()])
    setup = forbid_webhooks if mode == "fallback" else None
    async for fake in fake_discord(setup):
        engine.fake = fake
        bot = await start_bot(fake, e2e_settings(fake, tmp_path / "bot.db"), engine=engine)
        try:
            yield bot, engine
        finally:
            await stop_bot(bot)


async def test_streamed_turns_with_and_without_a_webhook(
    scripted: tuple[Running, PacedScript], mode: str
) -> None:
    running, _ = scripted
    fake = running.fake
    chan = await cast_scene(running, "inn", (NESSA, ROOK), max_replies=1)
    alice = fake.player_ids[0]

    await player_says(running, chan, alice, "A cider, Nessa.")
    turn = (await running.turns(chan, include_deleted=False))[-1]
    assert turn.speaker == "Nessa" and turn.content == (
        "*Nessa sets down a mug.* Cider, as you asked. Mind the step."
    )
    [texts] = _turn_messages(fake, turn.message_ids)
    assert texts[:3] == [
        "*Nessa sets down a mug.*",
        "*Nessa sets down a mug.* Cider, as you asked.",
        turn.content,
    ]
    assert set(texts[3:]) <= {turn.content}  # the buttons' edit keeps the text
    assert not any(_cut_lines(text, "Nessa", ("Rook",)) for text in texts)

    await player_says(running, chan, alice, "Tell me about the fog, Nessa.")
    turn = (await running.turns(chan, include_deleted=False))[-1]
    assert turn.content == LONG.strip() and len(turn.message_ids) >= 2
    parts = _turn_messages(fake, turn.message_ids)
    prefix = len("**Nessa**: ") if mode == "fallback" else 0
    assert [texts[-1] for texts in parts] == split_message(turn.content, MESSAGE_LIMIT - prefix)
    # Shown while the rest was written: its whole sentences.
    assert parts[0][0] == visible_prefix(LONG[:1200], "Nessa", ("Rook", "alice", "bob"))
    for message_id in turn.message_ids:
        message = fake.message(message_id)
        assert message["source"] == ("rest" if mode == "fallback" else "webhook")
        assert not message["deleted"]
    assert await running.core.stores.turns.pending() == []
    assert_no_pings_or_tracebacks(fake)


async def test_with_stream_posts_off_a_turn_is_posted_whole(tmp_path: Path) -> None:
    reply = [(piece, False) for piece, _ in SPEAKS_FOR_ROOK]  # nothing to wait for
    engine = PacedScript([reply])
    async for fake in fake_discord():
        settings = e2e_settings(fake, tmp_path / "bot.db", stream_posts=False)
        running = await start_bot(fake, settings, engine=engine)
        try:
            chan = await cast_scene(running, "inn", (NESSA, ROOK), max_replies=1)
            await player_says(running, chan, fake.player_ids[0], "A cider, Nessa.")
            turn = (await running.turns(chan, include_deleted=False))[-1]
            [texts] = _turn_messages(fake, turn.message_ids)
            assert set(texts) == {turn.content}  # posted as stored; only the buttons' edit
        finally:
            await stop_bot(running)
