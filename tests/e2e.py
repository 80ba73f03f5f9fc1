"""Fixtures for end-to-end tests: the real bot, core and demo model against the fake Discord."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from bot.channel.intake import PlayService
from bot.core import Core, open_core
from bot.settings import Settings, load_settings
from bot.store import Scene, Turn
from cogs.bot import TavernBot, create_bot
from tests.fake_discord import FakeDiscord, Interaction, restore_discord_py_urls
from tests.fake_discord.payloads import BOT_PERMISSIONS, MANAGE_WEBHOOKS
from tests.fake_discord.server import error as fake_error
from tests.scripted_engine import ScriptedEngine

READY_TIMEOUT = 30.0
REPLY_TIMEOUT = 10.0  # a command answer that needs no model work
MODEL_TIMEOUT = 120.0  # a whole NPC round, a swipe or a continue on the demo model
NO_MENTIONS = {"parse": []}

Json = dict[str, Any]


class Probe:
    """Records which gateway events the bot's play service has finished handling.

    It wraps `PlayService.on_message/on_edit/on_delete` on the running instance, so tests can
    wait for "the bot has dealt with message X" instead of sleeping. Messages the bot drops
    before the play service (its own REST messages) never show up here.
    """

    KINDS = ("message", "edit", "delete")

    def __init__(self, play: PlayService) -> None:
        self._done: dict[tuple[str, int], asyncio.Event] = {}
        original_message, original_edit = play.on_message, play.on_edit
        original_delete = play.on_delete

        async def on_message(message: Any) -> None:
            try:
                await original_message(message)
            finally:
                self._event("message", message.message_id).set()

        async def on_edit(message_id: int, content: str) -> None:
            try:
                await original_edit(message_id, content)
            finally:
                self._event("edit", message_id).set()

        async def on_delete(message_ids: Sequence[int]) -> None:
            try:
                await original_delete(message_ids)
            finally:
                for message_id in message_ids:
                    self._event("delete", message_id).set()

        play.on_message = on_message  # type: ignore[method-assign]
        play.on_edit = on_edit  # type: ignore[method-assign]
        play.on_delete = on_delete  # type: ignore[method-assign]

    def _event(self, kind: str, message_id: int | str) -> asyncio.Event:
        return self._done.setdefault((kind, int(message_id)), asyncio.Event())

    async def handled(
        self, kind: str, message_id: int | str, timeout: float = REPLY_TIMEOUT
    ) -> None:
        """Wait until the play service has finished with this message's event."""
        assert kind in self.KINDS
        await asyncio.wait_for(self._event(kind, message_id).wait(), timeout)


@dataclass
class Running:
    """A running bot and the fake it talks to."""

    fake: FakeDiscord
    bot: TavernBot
    core: Core
    task: asyncio.Task[None]
    probe: Probe = field(init=False)

    def __post_init__(self) -> None:
        self.probe = Probe(self.bot.tavern.play)

    async def idle(self, timeout: float = MODEL_TIMEOUT) -> None:
        """Wait until no NPC round runs or waits anywhere."""
        await asyncio.wait_for(self.bot.tavern.sessions.wait_idle(), timeout)

    async def scene(self, channel_id: int) -> Scene:
        scene = await self.core.stores.scenes.by_channel(channel_id)
        assert scene is not None, f"no active scene in {channel_id}"
        return scene

    async def turns(self, channel_id: int, *, include_deleted: bool = True) -> list[Turn]:
        """Every stored turn of the channel's scene, oldest first."""
        scene = await self.core.stores.scenes.by_channel(channel_id, active_only=False)
        assert scene is not None, f"no scene in {channel_id}"
        iterator = self.core.stores.turns.iter_all(scene.id, include_deleted=include_deleted)
        return [turn async for turn in iterator]


def e2e_settings(fake: FakeDiscord, db_path: Path, **overrides: object) -> Settings:
    """Settings for a bot that talks to `fake`, with small, seeded generation."""
    values: dict[str, object] = {
        "discord_token": "fake-token",
        "database_url": f"sqlite+aiosqlite:///{db_path}",
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "dev_guild_id": fake.guild_id,
        "n_ctx": 2048,
        "max_new_tokens": 40,
        "seed": 7,
        "quiet_seconds": 0.0,
        "reply_cooldown_seconds": 0.0,
        "kv_cache_mb": 64,
    }
    values.update(overrides)
    return load_settings(**values)


async def start_bot(
    fake: FakeDiscord, settings: Settings, *, engine: ScriptedEngine | None = None
) -> Running:
    """Compose the core (on `engine` if given), start the bot, wait until it is synced."""
    core = await open_core(settings, engine=engine)  # type: ignore[arg-type]
    bot = create_bot(core, guild_ready_timeout=0.05)
    task = asyncio.create_task(bot.start("fake-token"))
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await fake.wait_ready(timeout=READY_TIMEOUT)
            await bot.synced.wait()
            await bot.wait_until_ready()
    except BaseException:
        await stop_bot(Running(fake, bot, core, task))
        raise
    return Running(fake, bot, core, task)


async def stop_bot(running: Running) -> None:
    """Close the bot and the core; the fake keeps running."""
    await running.bot.close()
    with contextlib.suppress(Exception):  # the task may end with the close; nothing to report
        await running.task
    await running.core.close()


async def fake_discord(
    setup: Callable[[FakeDiscord], None] | None = None,
) -> AsyncIterator[FakeDiscord]:
    """A started fake Discord (use from a fixture); `setup` runs before it serves."""
    fake = FakeDiscord()
    if setup is not None:
        setup(fake)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        restore_discord_py_urls()


async def module_bot(db_path: Path, **overrides: object) -> AsyncIterator[Running]:
    """One bot on the demo model for a whole test module (use from a module fixture)."""
    async for fake in fake_discord():
        bot = await start_bot(fake, e2e_settings(fake, db_path, **overrides))
        try:
            yield bot
        finally:
            await stop_bot(bot)


async def checked_test(running: Running) -> AsyncIterator[None]:
    """Around one test: start and end idle, and let nothing it sent ping or leak a traceback."""
    await running.idle()
    mark = Mark.now(running.fake)
    yield
    await running.idle()
    assert_no_pings_or_tracebacks(running.fake, mark)


def forbid_webhooks(fake: FakeDiscord) -> None:
    """Take Manage Webhooks away from the bot: listing and creating webhooks answer 403.

    The fake does not check permissions on these routes itself, so the two handlers are
    swapped on this instance and its route table rebuilt.
    """

    async def missing_permissions(*_: object) -> Any:
        return fake_error(403, "Missing Permissions", 50013)

    role = fake.roles[fake.bot_role_id]
    role["permissions"] = str(BOT_PERMISSIONS & ~MANAGE_WEBHOOKS)
    fake._get_channel_webhooks = missing_permissions  # type: ignore[method-assign]
    fake._create_webhook = missing_permissions  # type: ignore[method-assign]
    fake._routes = fake._route_table()


# ------------------------------------------------------------------------------ interactions


async def answer_of(fake: FakeDiscord, handle: Interaction, timeout: float = REPLY_TIMEOUT) -> Json:
    """The message the bot finally answered an interaction with (after a defer: the followup)."""
    body = await handle.response(timeout)
    if body["type"] in (5, 6):  # deferred: the answer is the (first) followup
        return await handle.followup(timeout)
    if body["type"] == 4:
        assert handle.original_message_id is not None
        return fake.message(handle.original_message_id)
    raise AssertionError(f"unexpected interaction response: {body}")


def is_ephemeral(message: Json) -> bool:
    return bool(message["flags"] & 64)


def attachment_text(message: Json) -> tuple[str, str]:
    """(filename, text) of the single file attached to a message."""
    assert len(message["attachments"]) == 1, message["attachments"]
    attachment = message["attachments"][0]
    return attachment["filename"], bytes(attachment["data"]).decode("utf-8")


async def command(
    fake: FakeDiscord,
    name: str,
    subcommand: str | None = None,
    *,
    user_id: int,
    channel_id: int,
    options: dict[str, Any] | None = None,
    attachments: dict[str, tuple[str, bytes]] | None = None,
    timeout: float = REPLY_TIMEOUT,
) -> Json:
    """Run a slash command and return the bot's final answer message."""
    handle = await fake.slash(
        name,
        subcommand=subcommand,
        user_id=user_id,
        channel_id=channel_id,
        options=options,
        attachments=attachments,
    )
    return await answer_of(fake, handle, timeout)


async def click(
    fake: FakeDiscord,
    message_id: int | str,
    custom_id: str,
    *,
    user_id: int,
    channel_id: int,
    timeout: float = MODEL_TIMEOUT,
) -> Json:
    """Press a button and return the bot's final answer message."""
    handle = await fake.click(int(message_id), custom_id, user_id=user_id, channel_id=channel_id)
    return await answer_of(fake, handle, timeout)


def custom_ids(message: Json) -> list[str]:
    """Every component custom id on a message."""
    found: list[str] = []

    def walk(components: list[Json]) -> None:
        for component in components:
            if "custom_id" in component:
                found.append(component["custom_id"])
            walk(list(component.get("components") or []))

    walk(message.get("components") or [])
    return found


# ------------------------------------------------------------------------------ channel play


def npc_posts(fake: FakeDiscord, channel_id: int, since: int = 0) -> list[Json]:
    """Messages posted through webhooks into `channel_id` (NPC turns), oldest first."""
    return [
        m
        for m in fake.messages[since:]
        if m["source"] == "webhook" and int(m["channel_id"]) == channel_id
    ]


async def player_says(
    running: Running, channel_id: int, author_id: int, content: str, **kwargs: Any
) -> Json:
    """A member posts; returns once the bot has stored it and any round it started is done."""
    message = await running.fake.user_message(channel_id, author_id, content, **kwargs)
    await running.probe.handled("message", message["id"])
    await running.idle()
    return message


async def settle(running: Running, messages: Sequence[Json]) -> None:
    """Wait until the bot has seen `messages` (e.g. its own webhook posts) and is idle again."""
    for message in messages:
        await running.probe.handled("message", message["id"])
    await running.idle()


@dataclass(frozen=True)
class Npc:
    """An NPC a test's GM creates: from a sheet, or from a V2 card attached as a PNG or JSON."""

    name: str
    sheet: str = ""
    card: Json | None = None
    card_format: str = "png"  # how the card is attached: "png" (also the avatar) or "json"

    @property
    def card_filename(self) -> str:
        return f"{self.name.lower().replace(' ', '-')}.{self.card_format}"

    def options(self) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        """The `/npc create` options and attachments."""
        if self.card is not None:
            if self.card_format == "json":
                blob = json.dumps(self.card).encode()
            else:
                assert self.card_format == "png", self.card_format
                blob = card_png(self.card)
            return {}, {"card": (self.card_filename, blob)}
        return {
            "name": self.name,
            "sheet": self.sheet or f"**Age**: 40 **Biography**: {self.name}",
        }, {}


async def create_npc(
    fake: FakeDiscord, npc: Npc, *, channel_id: int, user_id: int | None = None
) -> Json:
    """The GM (the guild owner unless `user_id` says otherwise) runs `/npc create` for `npc`."""
    options, attachments = npc.options()
    return await command(
        fake,
        "npc",
        "create",
        user_id=fake.admin_id if user_id is None else user_id,
        channel_id=channel_id,
        options=options,
        attachments=attachments,
    )


@dataclass
class Cast:
    """What `open_scene` did, with the bot's answer to every step."""

    channel_id: int
    made: list[Json]  # the `/npc create` answers, one per NPC
    started: Json  # the `/scene start` answer
    changed: Json | None  # the `/scene settings` answer, if settings were given
    added: list[Json]  # the `/scene add` answers, one per NPC
    posts: list[Json]  # NPC messages posted in the channel meanwhile (greetings), oldest first


async def open_scene(
    running: Running,
    name: str,
    npcs: Sequence[Npc],
    *,
    channel_id: int | None = None,
    gm: int | None = None,
    **settings: Any,
) -> Cast:
    """Like `cast_scene`, but returns every answer; `channel_id` reuses a channel or thread.

    The GM is the guild owner unless `gm` names another member.
    """
    fake = running.fake
    if channel_id is None:
        channel_id = await fake.open_channel(name)
    gm = fake.admin_id if gm is None else gm
    since = len(fake.messages)
    made = []
    for npc in npcs:
        answered = await create_npc(fake, npc, channel_id=channel_id, user_id=gm)
        assert npc.name in answered["content"], answered["content"]
        made.append(answered)
    started = await command(fake, "scene", "start", user_id=gm, channel_id=channel_id)
    assert "Scene started" in started["content"], started["content"]
    changed = None
    if settings:
        changed = await command(
            fake, "scene", "settings", user_id=gm, channel_id=channel_id, options=settings
        )
        assert "changed" in changed["content"], changed["content"]
    added = []
    for npc in npcs:
        answered = await command(
            fake, "scene", "add", user_id=gm, channel_id=channel_id, options={"npc": npc.name}
        )
        assert "joined the scene" in answered["content"], answered["content"]
        added.append(answered)
    posts = npc_posts(fake, channel_id, since)
    await settle(running, posts)
    return Cast(channel_id, made, started, changed, added, posts)


async def cast_scene(
    running: Running,
    name: str,
    npcs: Sequence[Npc],
    **settings: Any,
) -> int:
    """A fresh channel where the GM created `npcs`, started a scene and cast them all.

    `settings` go to `/scene settings` (e.g. `max_replies=2`, `reply_mode="manual"`). Returns
    the channel id once the greetings are posted and the bot is idle.
    """
    return (await open_scene(running, name, npcs, **settings)).channel_id


def card_png(card: Json) -> bytes:
    """A PNG with the card as a base64 `chara` tEXt chunk, built with Pillow only."""
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card).encode()).decode("ascii"))
    out = io.BytesIO()
    Image.new("RGB", (32, 48), (90, 60, 30)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


@dataclass(frozen=True)
class Mark:
    """How much the fake had recorded at one moment, to check only what came after."""

    messages: int = 0
    webhook_executions: int = 0
    unknown_routes: int = 0

    @classmethod
    def now(cls, fake: FakeDiscord) -> Mark:
        return cls(len(fake.messages), len(fake.webhook_executions), len(fake.unknown_routes))


def assert_no_pings_or_tracebacks(fake: FakeDiscord, since: Mark | None = None) -> None:
    """Everything the bot and its webhooks sent allowed no mentions; no traceback leaked.

    With `since`, only what was sent after that mark is checked (messages as they are now,
    so later edits of those messages count too).
    """
    since = since or Mark()
    for execution in fake.webhook_executions[since.webhook_executions :]:
        assert execution["allowed_mentions"] == NO_MENTIONS, execution
    for message in fake.messages[since.messages :]:
        assert "Traceback" not in message["content"], message["content"]
        assert len(message["content"]) <= 2000, len(message["content"])
        if message["source"] == "user" or (message["deleted"] and not message["content"]):
            continue  # a player's own message, or a "thinking" note taken back unfilled
        assert message["allowed_mentions"] == NO_MENTIONS, message
        assert message["mentions"] == [] and message["mention_roles"] == []
        assert not message["mention_everyone"]
    assert fake.unknown_routes[since.unknown_routes :] == []
