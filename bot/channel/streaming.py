"""NPC turns shown as they are written: posted at the first whole sentence, edited as text
arrives, ending with the stored text; taken down when the round is stopped.

A turn is stored only once it is written, so while it streams its messages are recorded on a
placeholder (`bot/channel/placeholders.py`): a pending turn with no text, which a crash leaves
for the recovery to take down like any turn never posted whole. When the director stores the
turn, the messages move to it and the placeholder goes, in one transaction; the turn is then
posted as `TurnPublisher.post` posts one (pending, its messages recorded, then posted).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from bot.channel.limits import EditLimiter
from bot.channel.placeholders import discard, hand_over
from bot.channel.ports import LivePoster, MessageGone
from bot.channel.publisher import TurnPublisher
from bot.channel.visible import visible_prefix
from bot.director import StoredTurn
from bot.store import Scene, Stores, Turn

log = logging.getLogger(__name__)


class TurnStreams:
    """Starts the live turns of one front end; its limiter is shared by all their channels."""

    def __init__(
        self,
        stores: Stores,
        publisher: TurnPublisher,
        poster: LivePoster,
        limiter: EditLimiter | None = None,
    ) -> None:
        self.stores = stores
        self.publisher = publisher
        self.poster = poster
        self.limiter = limiter or EditLimiter()

    def start(
        self, scene: Scene, speaker: str, character_id: int | None, others: Sequence[str]
    ) -> LiveTurn:
        """A turn of `speaker` about to be written; `others`: the names that cut it."""
        return LiveTurn(self, scene, speaker, character_id, tuple(others))


class LiveTurn:
    """One turn being written: fed its text as it comes, finished with the stored turn."""

    def __init__(
        self,
        streams: TurnStreams,
        scene: Scene,
        speaker: str,
        character_id: int | None,
        others: tuple[str, ...],
    ) -> None:
        self.streams = streams
        self.scene = scene
        self.speaker = speaker
        self.character_id = character_id
        self.others = others
        self._pieces: list[str] = []  # appended from the engine's thread too
        self.shown = ""
        self.message_ids: list[int] = []
        self.placeholder: Turn | None = None
        self.gone = False  # a moderator deleted one of its messages meanwhile
        self._avatar: str | None = None
        self._stopping = False
        self._sending = False
        # Set while the pump waits for text: only then does a piece wake the event loop.
        self._wanted = False
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._task = self._loop.create_task(self._pump())

    @property
    def channel_id(self) -> int:
        return self.scene.channel_id

    def feed(self, piece: str) -> None:
        """More generated text; from any thread (the in-process engine calls from its own).

        The loop is woken only when the pump waits for text and the piece may end a sentence
        or a line: a wake-up per token would take the GIL from the generating thread each time.
        """
        self._pieces.append(piece)
        if not self._wanted or not any(char.isspace() for char in piece):
            return
        self._wanted = False
        if threading.get_ident() == self._thread:
            self._changed.set()
        else:
            self._loop.call_soon_threadsafe(self._changed.set)

    @property
    def raw(self) -> str:
        """The text so far."""
        return "".join(self._pieces)

    def visible(self) -> str:
        """What may be shown of the text so far."""
        return visible_prefix(self.raw, self.speaker, self.others)

    async def _pump(self) -> None:
        """Show the visible text whenever it grows, as often as the limits allow."""
        try:
            while not self._stopping:
                self._wanted = True  # before looking: a piece from now on wakes the pump
                if len(self.visible()) <= len(self.shown):
                    await self._changed.wait()
                    self._changed.clear()
                    continue
                self._wanted = False  # it waits for the limits, then shows the newest text
                await self._take(final=False)
                if self._stopping:
                    return
                self._sending = True
                try:
                    await self._show(self.visible())
                finally:
                    self._sending = False
        except MessageGone:
            self.gone = True
        except Exception:
            # Streaming is a nicety: the turn is still posted whole when it is stored.
            log.warning("could not show %s's turn as it was written", self.speaker, exc_info=True)

    async def _take(self, *, final: bool) -> None:
        key = self.streams.poster.rate_key(self.channel_id)
        if key is not None:
            await self.streams.limiter.take(self.channel_id, key, final=final)

    async def _show(self, text: str) -> None:
        poster, channel_id = self.streams.poster, self.channel_id
        if not self.message_ids:
            await self._open(text)
        else:
            ids = await poster.edit_live(
                channel_id, self.message_ids, self.speaker, self._avatar, text, final=False
            )
            await self._record(ids)
        self.shown = text

    async def _open(self, text: str) -> None:
        """Store the placeholder, then post the first text, recording each part on it."""
        turns = self.streams.stores.turns
        if self.placeholder is None:
            placeholder = await turns.append(
                self.scene.id,
                role="model",
                speaker=self.speaker,
                content="",
                character_id=self.character_id,
                pending=True,
            )
            self.placeholder = placeholder
            self._avatar = await self.streams.publisher.avatar(placeholder)
        assert self.placeholder is not None

        async def record(message_id: int) -> None:
            self.message_ids.append(message_id)
            assert self.placeholder is not None
            await turns.add_message_id(self.placeholder.id, message_id, len(self.message_ids) - 1)

        await self.streams.poster.post_live(
            self.channel_id, self.speaker, self._avatar, text, on_part=record
        )

    async def _record(self, ids: Sequence[int]) -> None:
        """Keep the messages an edit left (it may add parts or take some down)."""
        if list(ids) != self.message_ids and self.placeholder is not None:
            self.message_ids = list(ids)
            await self.streams.stores.turns.set_message_ids(self.placeholder.id, ids)

    async def _stop(self) -> None:
        """Stop showing updates: one on its way is finished, one waiting is dropped."""
        self._stopping = True
        self._changed.set()
        if not self._task.done() and not self._sending:
            self._task.cancel()
        await asyncio.wait([self._task])

    async def finish(self, turn: StoredTurn) -> list[int]:
        """Show the stored (pending) turn in full and mark it posted; its message ids.

        Nothing shown yet: it is posted whole. If a moderator deleted its message meanwhile,
        it is withdrawn (as a deleted post would have been) and no id is returned. A failure
        withdraws it and is raised, as `TurnPublisher.post` does.
        """
        await self._stop()
        publisher = self.streams.publisher
        if not self.message_ids:
            await self._discard()
            return await publisher.post(self.scene, turn)
        if self.gone:
            await self.abort()
            await publisher.withdraw(self.channel_id, turn.id, ())
            log.info("%s's turn was deleted while it was written", self.speaker)
            return []
        try:
            return await self._complete(turn)
        except MessageGone:
            await publisher.withdraw(self.channel_id, turn.id, self.message_ids)
            log.info("%s's turn was deleted while it was written", self.speaker)
            return []
        except BaseException:
            await publisher.withdraw(self.channel_id, turn.id, self.message_ids)
            raise

    async def _complete(self, turn: StoredTurn) -> list[int]:
        """Hand the messages to the stored turn, show its text, and mark it posted."""
        turns = self.streams.stores.turns
        assert self.placeholder is not None
        try:
            await hand_over(self.streams.stores, self.placeholder.id, turn.id)
        except BaseException:
            await self.abort()  # the messages stay on the placeholder: take them down with it
            self.message_ids = []
            raise
        self.placeholder = None
        ids = self.message_ids
        # What is shown may already be the whole turn (the rest was cut as someone else's).
        if turn.content != self.shown:
            await self._take(final=True)
            ids = await self.streams.poster.edit_live(
                self.channel_id, ids, turn.speaker, self._avatar, turn.content, final=True
            )
        if list(ids) != self.message_ids:
            self.message_ids = list(ids)
            await turns.set_message_ids(turn.id, ids)
        await turns.mark_posted(turn.id)
        return list(ids)

    async def abort(self) -> None:
        """The turn will not be stored (the round stopped): take down what was shown."""
        await self._stop()
        if self.placeholder is None:
            return
        try:
            if self.message_ids:
                await self.streams.poster.delete_messages(self.channel_id, self.message_ids)
            await self._discard()
        except Exception:
            # It stays pending with its parts recorded, so the next start takes them down.
            log.warning("could not take down %s's unfinished turn", self.speaker, exc_info=True)

    async def _discard(self) -> None:
        if self.placeholder is not None:
            await discard(self.streams.stores, self.placeholder.id)
            self.placeholder = None
