"""A live recording poster and an engine that writes its replies piece by piece, in step."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence

from bot.channel.ports import MessageGone, PartSent
from bot.channel.visible import visible_prefix
from bot.engine.base import CancelToken, Completion, GenerationRequest
from tests.channel.helpers import RecordingPoster, within_guard
from tests.scripted_engine import ScriptedEngine, request_kind


class LiveRecordingPoster(RecordingPoster):
    """A `RecordingPoster` that shows turns as they are written, with no rate limits."""

    live = True

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[tuple[str, list[int], str]] = []  # ("post" | "edit" | "final", ids, text)
        self.gone: set[int] = set()  # messages a moderator deleted
        self._changed = asyncio.Event()

    def rate_key(self, channel_id: int) -> int | None:
        return None

    async def post_live(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        ids = await self.post_turn(channel_id, speaker, avatar_url, text, on_part)
        self._show("post", ids, text)
        return ids

    async def edit_live(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
        *,
        final: bool,
    ) -> list[int]:
        gone = self.gone.intersection(message_ids)
        if gone:
            raise MessageGone(min(gone))
        ids = await self.edit_turn(channel_id, message_ids, speaker, avatar_url, text)
        self._show("final" if final else "edit", ids, text)
        return ids

    def _show(self, kind: str, ids: list[int], text: str) -> None:
        self.shown.append((kind, list(ids), text))
        self._changed.set()

    @property
    def latest(self) -> str:
        """The text the turn being written shows now."""
        return self.shown[-1][2] if self.shown else ""

    async def showing(self, text: str) -> None:
        """Wait until the channel shows `text` (a hang fails the test instead)."""

        async def wait() -> None:
            while self.latest != text:
                self._changed.clear()
                await self._changed.wait()

        await within_guard(wait())


Pace = Callable[[str], Awaitable[None]]


class PacedEngine(ScriptedEngine):
    """Writes each scripted reply piece by piece, awaiting `pace(text so far)` after each.

    With `hold`, the last reply stops after its pieces until the round is cancelled.
    """

    def __init__(self, replies: Iterable[Sequence[str]], **scripted: object) -> None:
        super().__init__(**scripted)  # type: ignore[arg-type]
        self.replies = deque(list(r) for r in replies)
        self.pace: Pace | None = None
        self.hold = False
        self.holding = asyncio.Event()

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        if request_kind(request) != "text" or not self.replies:
            return await super().complete(request, cancel, on_text)
        self.requests.append(request)
        if cancel is not None:  # this round has spoken: an unscripted floor now ends it
            self._spoken.add(cancel)
        cancel = cancel or CancelToken()
        text = ""
        for piece in self.replies.popleft():
            text += piece
            if on_text is not None:
                on_text(piece)
            if self.pace is not None:
                await self.pace(text)
        if self.hold and not self.replies:
            await self._until_cancelled(cancel)
            return Completion(text=text, finish_reason="cancelled")
        return Completion(text=text, finish_reason="stop")

    async def _until_cancelled(self, cancel: CancelToken) -> None:
        """Keep writing (nothing more) until the round's halt cancels the generation."""
        woken = asyncio.Event()
        original = cancel.cancel

        def cancel_and_wake() -> None:
            original()
            woken.set()

        cancel.cancel = cancel_and_wake  # type: ignore[method-assign]
        self.holding.set()
        if not cancel.cancelled:
            await within_guard(woken.wait())


def in_step(poster: LiveRecordingPoster, speaker: str, others: Sequence[str]) -> Pace:
    """A pace that waits, after each piece, until the channel shows what may be shown."""

    async def pace(text: str) -> None:
        visible = visible_prefix(text, speaker, others)
        if visible:
            await poster.showing(visible)

    return pace


def words(text: str) -> list[str]:
    """`text` in pieces of a word and the space or line break after it, as tokens come."""
    pieces: list[str] = []
    current = ""
    for char in text:
        current += char
        if char in " \n":
            pieces.append(current)
            current = ""
    return [*pieces, current] if current else pieces
