"""Shared builders for the direct service tests: actors, a recording poster, the services."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.channel.ports import Actor, IncomingMessage, PartSent
from bot.channel.services import Services
from bot.core import Core
from bot.director.director import TurnDirector
from bot.engine.base import CancelToken, Completion, GenerationRequest, Sampler
from bot.scenes.service import SceneCommands
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from tests.scripted_engine import ScriptedEngine

GUILD, OTHER_GUILD = 1, 2
CHANNEL, OTHER_CHANNEL = 10, 11
GM_ID, GM_ROLE_MEMBER_ID, ALICE, BOB, STRANGER = 100, 101, 200, 201, 300
GM_ROLE, OTHER_ROLE = 7000, 7001
OWN_HOOK = 900
T = TypeVar("T")
# Only against a broken build hanging forever; no test relies on timing.
HANG_GUARD_SECONDS = 60.0


def actor(
    user_id: int,
    *,
    channel_id: int = CHANNEL,
    guild_id: int = GUILD,
    manage_guild: bool = False,
    roles: Iterable[int] = (),
    name: str | None = None,
) -> Actor:
    """Someone acting in a channel of the test guild."""
    return Actor(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        display_name=name or f"user{user_id}",
        manage_guild=manage_guild,
        role_ids=frozenset(roles),
    )


def name_card(name: str) -> tuple[str, bytes]:
    """A small JSON V2 card attachment for a character called `name`."""
    data = {"name": name, "description": "Someone.", "first_mes": ""}
    return "card.json", json.dumps({"spec": "chara_card_v2", "data": data}).encode()


def gm(channel_id: int = CHANNEL) -> Actor:
    """A member with Manage Server."""
    return actor(GM_ID, channel_id=channel_id, manage_guild=True, name="Gina")


def alice(channel_id: int = CHANNEL) -> Actor:
    return actor(ALICE, channel_id=channel_id, name="Alice")


def bob(channel_id: int = CHANNEL) -> Actor:
    return actor(BOB, channel_id=channel_id, name="Bob")


def stranger(channel_id: int = CHANNEL) -> Actor:
    return actor(STRANGER, channel_id=channel_id, name="Sam")


class RecordingPoster:
    """A Poster that records every call, with message ids from 5001 (or `first_id`) upwards."""

    def __init__(self, first_id: int = 5001) -> None:
        self.posts: list[tuple[int, str, str | None, str, list[int]]] = []
        self.edits: list[tuple[int, list[int], str, str]] = []
        self.deleted: list[tuple[int, list[int]]] = []
        self.controls: list[tuple[int, int | None]] = []
        self.notices: list[str] = []
        self.refreshed: list[str] = []
        self.typing_channels: list[int] = []
        self.unsaved: list[int] = []  # marked now
        self.unmarked: list[int] = []  # marked once, the mark taken off since
        self.refuse_next_edit = False
        # What `messages_after` finds in each channel, and the reads asked of it.
        self.channel_history: dict[int, list[IncomingMessage]] = {}
        self.read_back: list[tuple[int, int]] = []
        self._next_id = first_id - 1

    def owns_webhook(self, webhook_id: int) -> bool:
        return webhook_id == OWN_HOOK

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        ids = [self._new_id()]
        self.posts.append((channel_id, speaker, avatar_url, text, ids))
        await on_part(ids[0])
        return ids

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        self.edits.append((channel_id, list(message_ids), speaker, text))
        if self.refuse_next_edit:
            self.refuse_next_edit = False
            raise RuntimeError("Discord refused the edit")
        return list(message_ids)

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        self.deleted.append((channel_id, list(message_ids)))

    async def set_controls(self, channel_id: int, message_id: int, turn_id: int | None) -> None:
        self.controls.append((message_id, turn_id))

    async def notice(self, channel_id: int, text: str) -> None:
        self.notices.append(text)

    async def refresh_links(self, urls: Sequence[str]) -> dict[str, str]:
        self.refreshed.extend(urls)
        return {url: re.sub(r"ex=[0-9a-f]*", "ex=ffffffffff", url) for url in urls}

    @contextlib.asynccontextmanager
    async def typing(self, channel_id: int) -> AsyncIterator[None]:
        self.typing_channels.append(channel_id)
        yield

    async def mark_unsaved(self, channel_id: int, message_id: int) -> None:
        self.unsaved.append(message_id)

    async def unmark_unsaved(self, channel_id: int, message_id: int) -> None:
        self.unsaved.remove(message_id)
        self.unmarked.append(message_id)

    async def messages_after(
        self, channel_id: int, after_id: int, limit: int
    ) -> list[IncomingMessage]:
        self.read_back.append((channel_id, after_id))
        found = [m for m in self.channel_history.get(channel_id, []) if m.message_id > after_id]
        return sorted(found, key=lambda m: m.message_id)[:limit]


class BlockingEngine(ScriptedEngine):
    """Generation that, once `block` is set, runs until its round is cancelled.

    Like a long reply being halted: `complete` wraps the round's cancel token so that
    cancelling it wakes the generation, which then yields a few more times (finishing the
    token in flight) and returns half a reply. Before `block` is set it answers as scripted.
    """

    def __init__(self, **scripted: Any) -> None:
        super().__init__(**scripted)
        self.block = False
        self.blocked = asyncio.Event()
        self.woken = asyncio.Event()
        # Cleared by a test that wants the halted generation to linger until it says so.
        self.release = asyncio.Event()
        self.release.set()
        self.finished = False

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        if not self.block:
            return await super().complete(request, cancel, on_text)
        self.requests.append(request)
        assert cancel is not None, "a round must pass its cancel token to the engine"
        original = cancel.cancel

        def cancel_and_wake() -> None:
            original()
            self.woken.set()

        cancel.cancel = cancel_and_wake  # type: ignore[method-assign]
        self.blocked.set()
        if not cancel.cancelled:
            await self.woken.wait()
        await self.release.wait()  # the token in flight finishes before the engine notices
        self.finished = True
        if on_text is not None:
            on_text("Half a sent")
        return Completion(text="Half a sent", finish_reason="cancelled")


class WatchedLock(asyncio.Lock):
    """A session lock that tells when it is first taken and when someone queued behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = 0
        self.someone_waits = asyncio.Event()
        self.taken = asyncio.Event()

    async def acquire(self) -> bool:
        if self.locked():
            self.queued += 1
            self.someone_waits.set()
        acquired = await super().acquire()
        self.taken.set()
        return acquired


async def first_of(*awaitables: Awaitable[object]) -> None:
    """Wait until one of these is done (the others keep running)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)


async def within_guard(awaitable: Awaitable[T]) -> T:
    """Await something that must finish; a hang becomes a failure instead of a stuck run."""
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        return await awaitable


@dataclass
class Tavern:
    """The services under test and what they were built over."""

    services: Services
    poster: RecordingPoster
    stores: Stores
    engine: ScriptedEngine


async def marta_scene(tavern: Tavern, **settings: object) -> int:
    """The GM starts a scene in CHANNEL and casts Marta (with any scene `settings`); its id."""
    services, stores = tavern.services, tavern.stores
    await services.get(SceneCommands).start(gm(), "group-inst")
    await stores.characters.create(
        guild_id=GUILD, kind="npc", name="Marta", sheet="**Character Name**: Marta"
    )
    await services.get(SceneCommands).add_npc(gm(), "Marta")
    scene = await stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    if settings:
        await stores.scenes.update(scene.id, **settings)
    return scene.id


def build(
    db: Database,
    *,
    engine: ScriptedEngine | None = None,
    poster: RecordingPoster | None = None,
    cooldown: float = 0,
    default_format: str = "group-inst",
    **overrides: object,
) -> Tavern:
    """The services over `db`, built by the composition root like the bot does."""
    stores = Stores.over(db)
    engine = engine or ScriptedEngine(texts=[f"Reply {i}." for i in range(10)])
    poster = poster or RecordingPoster()
    settings = load_settings(
        quiet_seconds=0,
        reply_cooldown_seconds=cooldown,
        default_format=default_format,
        **overrides,
    )
    views = SceneViews(stores, Sampler(seed=1))
    core = Core(settings, db, stores, engine, TurnDirector(engine, stores.turns), views)
    return Tavern(core.services(poster), poster, stores, engine)
