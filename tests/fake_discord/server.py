"""A small fake Discord (REST + gateway) on 127.0.0.1 that the real discord.py client talks to."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import BodyPartReader, WSMsgType, web

from .interactions import (
    EPHEMERAL,
    LOADING,
    SNOWFLAKE_OPTION_TYPES,
    Interaction,
    Options,
    component_type,
    leaf_options,
    type_options,
)
from .payloads import (
    ADD_REACTIONS,
    ADMIN_PERMISSIONS,
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    GM_PERMISSIONS,
    MANAGE_MESSAGES,
    Snowflakes,
    member_payload,
    now_iso,
    parse_mentions,
    role_payload,
    text_channel_payload,
    thread_payload,
    user_payload,
    webhook_author,
    wire,
)

LINK_LIFETIME_SECONDS = 24 * 3600  # Discord attachment links last about a day
log = logging.getLogger("tests.fake_discord")

Json = dict[str, Any]
Handler = Callable[..., Awaitable[web.StreamResponse]]
# Answers a matching request before the fake does (a failure, a hold); None passes it on.
Interceptor = Callable[[web.Request], Awaitable[web.StreamResponse | None]]
MessagePredicate = Callable[[Json], bool]

API_PREFIX = "/api/v10"
ATTACHMENT_SIZE_LIMIT = 25 * 1024 * 1024


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with the exact content type discord.py checks (`application/json`, no charset)."""
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )


def error(status: int, message: str, code: int = 0) -> web.Response:
    """A Discord-style JSON error."""
    return json_response({"message": message, "code": code}, status)


def no_content() -> web.Response:
    """An empty 204."""
    return web.Response(status=204)


def _truthy(value: str | None) -> bool:
    """Whether a query flag such as `wait=1` / `wait=true` is set."""
    return (value or "").lower() in ("1", "true")


class FakeDiscord:
    """One fake guild served over REST and a gateway websocket, plus helpers to drive it."""

    def __init__(
        self,
        *,
        bot_user_id: int = 500000000000000001,
        application_id: int | None = None,
        guild_id: int = 600000000000000001,
        heartbeat_interval_ms: int = 41250,
        host: str = "127.0.0.1",
    ) -> None:
        self.bot_user_id = bot_user_id
        self.application_id = application_id or bot_user_id
        self.guild_id = guild_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.host = host
        self.api_base = ""
        self.gateway_url = ""
        self.base_url = ""

        self.admin_id = 700000000000000001  # guild owner, also holds the Admin role
        self.gm_id = 700000000000000002
        self.player_ids: tuple[int, int] = (700000000000000003, 700000000000000004)
        self.everyone_role_id = guild_id
        self.gm_role_id = 610000000000000001
        self.admin_role_id = 610000000000000002
        self.bot_role_id = 610000000000000003
        self.channel_id = 620000000000000001  # "roleplay"
        self.other_channel_id = 620000000000000002  # "general"
        self.thread_id = 620000000000000003  # a thread in "roleplay"

        self.users: dict[int, Json] = {}
        self.members: dict[int, Json] = {}
        self.roles: dict[int, Json] = {
            self.everyone_role_id: role_payload(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            self.gm_role_id: role_payload(self.gm_role_id, "GM", GM_PERMISSIONS, 1),
            self.admin_role_id: role_payload(self.admin_role_id, "Admin", ADMIN_PERMISSIONS, 2),
            self.bot_role_id: role_payload(
                self.bot_role_id, "Tavernkeep", BOT_PERMISSIONS, 3, bot_id=bot_user_id
            ),
        }
        self.channels: dict[int, Json] = {
            self.channel_id: text_channel_payload(self.channel_id, guild_id, "roleplay", 0),
            self.other_channel_id: text_channel_payload(
                self.other_channel_id, guild_id, "general", 1
            ),
            self.thread_id: thread_payload(
                self.thread_id, guild_id, self.channel_id, self.admin_id, "side-scene"
            ),
        }
        self.add_member(bot_user_id, "tavernkeep", roles=[self.bot_role_id], bot=True)
        self.add_member(self.admin_id, "admin", roles=[self.admin_role_id])
        self.add_member(self.gm_id, "gamemaster", roles=[self.gm_role_id])
        self.add_member(self.player_ids[0], "alice")
        self.add_member(self.player_ids[1], "bob")

        self.messages: list[Json] = []
        self.webhooks: dict[int, Json] = {}
        self.webhook_executions: list[Json] = []
        self.typing_events: list[int] = []
        self.global_commands: dict[str, Json] = {}
        self.guild_commands: dict[str, Json] = {}
        self.interactions: dict[str, Interaction] = {}
        self.gateway_events: list[tuple[str, Json]] = []
        self.gateway_received: list[Json] = []
        self.identify_payload: Json | None = None
        self.unknown_routes: list[str] = []
        self.reactions: list[tuple[int, str, int]] = []  # on now: (message id, emoji, user id)
        self.removed_reactions: list[tuple[int, str, int]] = []  # taken off since, in order
        self.resumes = 0
        # While set, gateway events are recorded but never sent (an outage the client misses).
        self.gateway_down = False

        self._ids = Snowflakes()
        self._by_id: dict[int, Json] = {}
        self._blobs: dict[int, tuple[bytes, str]] = {}
        self.refused_links: list[str] = []  # CDN requests refused as expired or unsigned
        self.refresh_requests: list[str] = []  # links the bot asked to refresh
        self._waiters: list[tuple[MessagePredicate, asyncio.Future[Json]]] = []
        self._ws: web.WebSocketResponse | None = None
        self._ws_lock = asyncio.Lock()
        self._seq = 0
        self._ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = self._route_table()
        self._intercepts: list[tuple[str, re.Pattern[str], Interceptor]] = []

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Serve on a random free port of `host`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        app.router.add_get("/attachments/{channel}/{attachment}/{filename}", self._attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{port}"
        self.api_base = self.base_url + API_PREFIX
        self.gateway_url = f"ws://{self.host}:{port}/"

    async def stop(self) -> None:
        """Close the gateway connection and the web server."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for _, future in self._waiters:
            future.cancel()

    async def drop_gateway(self) -> None:
        """Close the gateway connection the way a network hiccup does: the client resumes."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=4000)

    def intercept(self, method: str, path: str, handler: Interceptor) -> None:
        """Let `handler` see matching REST requests (path regex after /api/v10) first."""
        self._intercepts.append((method, re.compile(path), handler))

    def stop_intercepting(self) -> None:
        """Forget every interceptor: requests reach the fake's own routes again."""
        self._intercepts.clear()

    async def wait_ready(self, timeout: float = 10) -> None:
        """Wait until IDENTIFY was received and READY + GUILD_CREATE were sent."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # ----------------------------------------------------------------- world

    def add_member(
        self, user_id: int, username: str, *, roles: Iterable[int] = (), bot: bool = False
    ) -> None:
        """Add a user and make them a member of the guild."""
        self.users[user_id] = user_payload(user_id, username, bot=bot)
        self.members[user_id] = member_payload(list(roles))

    def add_text_channel(self, name: str) -> int:
        """Add a text channel (before the bot connects) and return its id."""
        channel_id = self._ids.next()
        self.channels[channel_id] = text_channel_payload(
            channel_id, self.guild_id, name, len(self.channels)
        )
        return channel_id

    async def open_channel(self, name: str) -> int:
        """Add a text channel while the bot is connected (CHANNEL_CREATE) and return its id."""
        channel_id = self.add_text_channel(name)
        await self._dispatch("CHANNEL_CREATE", self.channels[channel_id])
        return channel_id

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions of a member (owner and ADMINISTRATOR get everything)."""
        if user_id == self.admin_id:
            return ALL_PERMISSIONS
        perms = int(self.roles[self.everyone_role_id]["permissions"])
        for role_id in self.members[user_id]["roles"]:
            perms |= int(self.roles[int(role_id)]["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def full_member(self, user_id: int, *, permissions: bool = False) -> Json:
        """A member object with its `user` (and `permissions` if asked)."""
        data = {**self.members[user_id], "user": self.users[user_id]}
        if permissions:
            data["permissions"] = str(self.permissions_of(user_id))
        return data

    def guild_payload(self) -> Json:
        """The GUILD_CREATE payload for the guild."""
        channels = [c for c in self.channels.values() if c["type"] != 11]
        threads = [c for c in self.channels.values() if c["type"] == 11]
        return {
            "id": str(self.guild_id),
            "name": "Tavern",
            "icon": None,
            "owner_id": str(self.admin_id),
            "unavailable": False,
            "member_count": len(self.members),
            "large": False,
            "features": [],
            "preferred_locale": "en-US",
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "channels": channels,
            "threads": threads,
            "members": [self.full_member(uid) for uid in self.members],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "system_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
        }

    @property
    def commands(self) -> dict[str, Json]:
        """Registered application commands by name (guild commands win over global ones)."""
        return {**self.global_commands, **self.guild_commands}

    def message(self, message_id: int) -> Json:
        """A stored message by id (KeyError if unknown)."""
        return self._by_id[int(message_id)]

    def versions(self, message_id: int | str) -> list[str]:
        """A message's text as it was posted and after each edit, in order (the gateway's)."""
        return [
            data["content"]
            for event, data in self.gateway_events
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and int(data["id"]) == int(message_id)
        ]

    # ----------------------------------------------------------------- test driving

    async def wait_for_message(
        self, predicate: MessagePredicate, timeout: float = 5.0, *, since: int = 0
    ) -> Json:
        """First message in `messages[since:]`, or later created/edited, matching `predicate`."""
        for message in self.messages[since:]:
            if predicate(message):
                return message
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def user_message(
        self,
        channel_id: int,
        author_id: int,
        content: str,
        *,
        webhook_id: int | None = None,
        username: str | None = None,
        attachments: Iterable[tuple[str, bytes]] = (),
        embeds: Iterable[Json] = (),
        reply_to: int | None = None,
    ) -> Json:
        """A human (or a bot member, or with `webhook_id` another app's webhook) posts;
        `reply_to`: as a Discord reply to that message."""
        files = [
            {"index": i, "filename": name, "data": data, "content_type": _guess_type(name)}
            for i, (name, data) in enumerate(attachments)
        ]
        if webhook_id is not None:
            author = webhook_author(webhook_id, username or "Proxy")
            member = None
        else:
            author, member = self.users[author_id], self.members[author_id]
        payload: Json = {"content": content, "embeds": list(embeds)}
        if reply_to is not None:
            payload["message_reference"] = {"type": 0, "message_id": str(reply_to)}
        return await self._create_message(
            channel_id,
            payload,
            files,
            author=author,
            member=member,
            webhook_id=webhook_id,
            source="user",
            username=username,
        )

    async def edit_user_message(self, channel_id: int, message_id: int, content: str) -> None:
        """Edit a message as its author; dispatches MESSAGE_UPDATE."""
        await self._edit_message(self.message(message_id), {"content": content}, [])

    async def delete_user_message(self, channel_id: int, message_id: int) -> None:
        """Delete a message as its author; dispatches MESSAGE_DELETE."""
        await self._delete_message(self.message(message_id))

    async def moderator_deletes(self, message_id: int, *, seen: bool = True) -> None:
        """A moderator deletes a message; `seen=False`: the bot misses the event (offline)."""
        message = self.message(message_id)
        if seen:
            await self._delete_message(message)
        else:
            message["deleted"] = True

    def delete_webhook(self, webhook_id: int) -> None:
        """A moderator deletes a channel webhook: it and its token stop working."""
        del self.webhooks[webhook_id]

    def set_bot_permissions(self, permissions: int) -> None:
        """Change what the bot's role allows (e.g. without Manage Messages)."""
        self.roles[self.bot_role_id]["permissions"] = str(permissions)

    async def slash(
        self,
        name: str,
        *,
        user_id: int,
        channel_id: int,
        options: Options = None,
        subcommand: str | None = None,
        group: str | None = None,
        attachments: dict[str, tuple[str, bytes]] | None = None,
    ) -> Interaction:
        """Invoke a registered slash command; `attachments`: option name -> (filename, bytes)."""
        data = self._command_data(name, options, subcommand, group, attachments, None)
        return await self._send_interaction(self._interaction_payload(2, user_id, channel_id, data))

    async def message_command(
        self, name: str, message_id: int, *, user_id: int, channel_id: int
    ) -> Interaction:
        """Invoke a registered message context-menu command (Apps → `name`) on a message."""
        command = self.commands.get(name)
        if command is None or command.get("type") != 3:
            raise KeyError(f"no message command {name!r}; registered: {sorted(self.commands)}")
        message = self.message(message_id)
        data: Json = {
            "id": command["id"],
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): wire(message)}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self._send_interaction(self._interaction_payload(2, user_id, channel_id, data))

    async def autocomplete(
        self,
        name: str,
        *,
        user_id: int,
        channel_id: int,
        focused: str,
        value: str = "",
        options: Options = None,
        subcommand: str | None = None,
        group: str | None = None,
        timeout: float = 5.0,
    ) -> list[Json]:
        """Ask for autocomplete on option `focused` (typed so far: `value`); returns the choices."""
        typed = [o for o in _as_list(options) if o["name"] != focused]
        typed.append({"name": focused, "value": value})
        data = self._command_data(name, typed, subcommand, group, None, focused)
        handle = await self._send_interaction(
            self._interaction_payload(4, user_id, channel_id, data)
        )
        body = await handle.response(timeout)
        return list((body.get("data") or {}).get("choices", []))

    async def click(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int,
        channel_id: int,
        values: list[str] | None = None,
    ) -> Interaction:
        """Press a button (or pick `values` in a select) on a stored message."""
        message = self.message(message_id)
        kind = component_type(message.get("components", []), custom_id) or 2
        data: Json = {"custom_id": custom_id, "component_type": kind}
        if values is not None or kind != 2:
            data["values"] = list(values or [])
        payload = self._interaction_payload(3, user_id, channel_id, data, message=message)
        return await self._send_interaction(payload)

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, str | list[str]],
        *,
        user_id: int,
        channel_id: int,
        message_id: int | None = None,
    ) -> Interaction:
        """Submit a modal: text inputs by custom_id (a list value submits a select)."""
        rows = []
        for input_id, value in values.items():
            if isinstance(value, list):
                component: Json = {"type": 3, "custom_id": input_id, "values": value}
            else:
                component = {"type": 4, "custom_id": input_id, "value": value}
            rows.append({"type": 1, "components": [component]})
        data = {"custom_id": custom_id, "components": rows}
        message = self.message(message_id) if message_id is not None else None
        payload = self._interaction_payload(5, user_id, channel_id, data, message=message)
        return await self._send_interaction(payload)

    # ----------------------------------------------------------------- interactions

    def _command_data(
        self,
        name: str,
        options: Options,
        subcommand: str | None,
        group: str | None,
        attachments: dict[str, tuple[str, bytes]] | None,
        focused: str | None,
    ) -> Json:
        """`data` of an application-command interaction, with `resolved` filled in."""
        command = self.commands.get(name)
        if command is None:
            raise KeyError(f"/{name} is not registered; registered: {sorted(self.commands)}")
        typed = type_options(
            command, _as_list(options), subcommand=subcommand, group=group, focused=focused
        )
        leaves = leaf_options(typed)
        resolved: Json = {}
        for option_name, (filename, blob) in (attachments or {}).items():
            attachment = self._store_attachment(
                self.channel_id, filename, blob, _guess_type(filename)
            )
            resolved.setdefault("attachments", {})[attachment["id"]] = wire_attachment(attachment)
            leaves.append({"name": option_name, "type": 11, "value": attachment["id"]})
        for option in leaves:
            if option["type"] in SNOWFLAKE_OPTION_TYPES and option["type"] != 11:
                self._resolve(int(option["value"]), option["type"], resolved)
        data: Json = {
            "id": command["id"],
            "name": name,
            "type": command.get("type", 1),
            "options": typed,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def _resolve(self, snowflake: int, kind: int, resolved: Json) -> None:
        """Add a user/member, channel or role to an interaction's `resolved` data."""
        key = str(snowflake)
        if kind in (6, 9) and snowflake in self.users:
            resolved.setdefault("users", {})[key] = self.users[snowflake]
            member = {**self.members[snowflake], "permissions": str(self.permissions_of(snowflake))}
            resolved.setdefault("members", {})[key] = member
        if kind in (8, 9) and snowflake in self.roles:
            resolved.setdefault("roles", {})[key] = self.roles[snowflake]
        if kind == 7 and snowflake in self.channels:
            channel = {**self.channels[snowflake], "permissions": str(ALL_PERMISSIONS)}
            resolved.setdefault("channels", {})[key] = channel

    def _interaction_payload(
        self, kind: int, user_id: int, channel_id: int, data: Json, *, message: Json | None = None
    ) -> Json:
        """A guild INTERACTION_CREATE payload as discord.py 2.7 reads it."""
        interaction_id = self._ids.next()
        channel = {**self.channels[channel_id], "permissions": str(self.permissions_of(user_id))}
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(self.guild_id),
            "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "channel": channel,
            "channel_id": str(channel_id),
            "member": self.full_member(user_id, permissions=True),
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "app_permissions": str(self.permissions_of(self.bot_user_id)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = wire(message)
        return payload

    async def _send_interaction(self, payload: Json) -> Interaction:
        """Register a handle for `payload` and dispatch INTERACTION_CREATE."""
        handle = Interaction(payload)
        self.interactions[handle.token] = handle
        await self._dispatch("INTERACTION_CREATE", payload)
        return handle

    async def _interaction_message(
        self, handle: Interaction, data: Json, files: list[Json], flags: int = 0
    ) -> Json:
        """Create a message sent by the bot in answer to an interaction."""
        payload = {**data, "flags": (data.get("flags") or 0) | flags}
        return await self._create_message(
            int(handle.payload["channel_id"]),
            payload,
            files,
            author=self.users[self.bot_user_id],
            member=self.members[self.bot_user_id],
            webhook_id=self.application_id,
            source="interaction",
            interaction_id=handle.id,
            message_type=20 if handle.type == 2 else 0,
        )

    # ----------------------------------------------------------------- messages

    def _store_attachment(
        self, channel_id: int, filename: str, data: bytes, content_type: str
    ) -> Json:
        """Keep bytes downloadable under /attachments and return the attachment object."""
        attachment_id = self._ids.next()
        self._blobs[attachment_id] = (data, content_type)
        url = self.signed_link(f"/attachments/{channel_id}/{attachment_id}/{filename}")
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "data": data,
        }

    def _attachments(
        self, channel_id: int, payload: Json, files: list[Json], existing: list[Json]
    ) -> list[Json]:
        """Attachment list from a payload's `attachments` metadata and the uploaded files."""
        by_index = {f["index"]: f for f in files}
        known = {a["id"]: a for a in existing}
        if "attachments" not in payload:
            meta: list[Json] = [{"id": i} for i in by_index]
            result = list(existing)
        else:
            meta = payload["attachments"] or []
            result = []
        for entry in meta:
            if str(entry["id"]) in known:
                result.append(known[str(entry["id"])])
            elif int(entry["id"]) in by_index:
                upload = by_index[int(entry["id"])]
                stored = self._store_attachment(
                    channel_id, upload["filename"], upload["data"], upload["content_type"]
                )
                if entry.get("description"):
                    stored["description"] = entry["description"]
                result.append(stored)
        return result

    async def _create_message(
        self,
        channel_id: int,
        payload: Json,
        files: list[Json],
        *,
        author: Json,
        member: Json | None,
        source: str,
        webhook_id: int | None = None,
        username: str | None = None,
        avatar_url: str | None = None,
        thread_id: int | None = None,
        interaction_id: int | None = None,
        message_type: int = 0,
    ) -> Json:
        """Store a message, dispatch MESSAGE_CREATE (unless ephemeral) and wake waiters."""
        content = payload.get("content") or ""
        allowed = payload.get("allowed_mentions")
        message: Json = {
            "id": str(self._ids.next()),
            "channel_id": str(channel_id),
            "guild_id": str(self.guild_id),
            "author": author,
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            **self._mention_fields(content, allowed),
            "attachments": self._attachments(channel_id, payload, files, []),
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "pinned": False,
            "type": message_type,
            "flags": payload.get("flags") or 0,
            # extras for the tests, stripped by wire()
            "username": username,
            "avatar_url": avatar_url,
            "allowed_mentions": allowed,
            "thread_id": thread_id,
            "deleted": False,
            "source": source,
            "interaction_id": interaction_id,
        }
        if member is not None:
            message["member"] = member
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        if source == "interaction":
            message["application_id"] = str(self.application_id)
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        reference = payload.get("message_reference")
        if reference:
            reference = {"channel_id": str(channel_id), "guild_id": str(self.guild_id), **reference}
            message["message_reference"] = reference
            message["type"] = 19
            referenced = self._by_id.get(int(reference["message_id"]))
            # Like Discord: the replied-to message one level deep, null when it is gone.
            if referenced is not None and not referenced["deleted"]:
                nested = wire(referenced)
                nested.pop("referenced_message", None)
                message["referenced_message"] = nested
            else:
                message["referenced_message"] = None
        self.messages.append(message)
        self._by_id[int(message["id"])] = message
        if not message["flags"] & EPHEMERAL:
            await self._dispatch("MESSAGE_CREATE", wire(message))
        self._notify(message)
        return message

    async def _edit_message(self, message: Json, payload: Json, files: list[Json]) -> Json:
        """Apply an edit, dispatch MESSAGE_UPDATE (unless ephemeral) and wake waiters."""
        if "content" in payload:
            message["content"] = payload["content"] or ""
        for key in ("embeds", "components"):
            if key in payload:
                message[key] = payload[key] or []
        if "allowed_mentions" in payload:
            message["allowed_mentions"] = payload["allowed_mentions"]
        message.update(self._mention_fields(message["content"], message["allowed_mentions"]))
        if "flags" in payload and payload["flags"] is not None:
            message["flags"] = (message["flags"] & EPHEMERAL) | payload["flags"]
        message["flags"] &= ~LOADING
        if "attachments" in payload or files:
            channel_id = int(message["channel_id"])
            message["attachments"] = self._attachments(
                channel_id, payload, files, message["attachments"]
            )
        message["edited_timestamp"] = now_iso()
        if not message["flags"] & EPHEMERAL:
            await self._dispatch("MESSAGE_UPDATE", wire(message))
        self._notify(message)
        return message

    async def _delete_message(self, message: Json) -> None:
        """Mark a message deleted and dispatch MESSAGE_DELETE (unless ephemeral)."""
        message["deleted"] = True
        if not message["flags"] & EPHEMERAL:
            data = {
                "id": message["id"],
                "channel_id": message["channel_id"],
                "guild_id": str(self.guild_id),
            }
            await self._dispatch("MESSAGE_DELETE", data)

    def _mention_fields(self, content: str, allowed: Json | None) -> Json:
        """`mentions`, `mention_roles` and `mention_everyone` for `content`."""
        user_ids, role_ids, everyone = parse_mentions(content, allowed)
        return {
            "mention_everyone": everyone,
            "mentions": [
                {**self.users[u], "member": self.members[u]} for u in user_ids if u in self.users
            ],
            "mention_roles": [str(r) for r in role_ids],
        }

    def _notify(self, message: Json) -> None:
        """Resolve wait_for_message() futures whose predicate now matches."""
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(message):
                future.set_result(message)

    # ----------------------------------------------------------------- gateway

    async def _dispatch(self, event: str, data: Json) -> None:
        """Send a DISPATCH (op 0) to the connected, identified client."""
        self.gateway_events.append((event, data))
        ws = self._ws
        if ws is None or ws.closed or self.identify_payload is None or self.gateway_down:
            return
        self._seq += 1
        await self._send(ws, {"op": 0, "t": event, "s": self._seq, "d": data})

    async def _send(self, ws: web.WebSocketResponse, frame: Json) -> None:
        """Send one plain-text JSON gateway frame (no zlib)."""
        async with self._ws_lock:
            try:
                await ws.send_str(json.dumps(frame))
            except ConnectionError:
                log.debug("gateway closed while sending %s", frame.get("t") or frame.get("op"))

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        """The gateway websocket: HELLO, then answer IDENTIFY/HEARTBEAT/RESUME/REQUEST_MEMBERS."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=4000)
        self._ws = ws
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.gateway_received.append(frame)
            await self._gateway_op(ws, frame["op"], frame.get("d"))
        return ws

    async def _gateway_op(self, ws: web.WebSocketResponse, op: int, data: Any) -> None:
        """Handle one client opcode."""
        if op == 1:
            await self._send(ws, {"op": 11})
        elif op == 2:
            self.identify_payload = data
            self._seq = 0
            await self._dispatch("READY", self._ready_payload())
            await self._dispatch("GUILD_CREATE", self.guild_payload())
            self._ready.set()
        elif op == 6:
            self.resumes += 1
            await self._dispatch("RESUMED", {})
        elif op == 8:
            wanted = {int(u) for u in data.get("user_ids") or []}
            query = (data.get("query") or "").lower()
            members = [
                self.full_member(uid)
                for uid, user in self.users.items()
                if uid in self.members
                and (not wanted or uid in wanted)
                and user["username"].lower().startswith(query)
            ]
            chunk = {
                "guild_id": str(self.guild_id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
                "nonce": data.get("nonce"),
            }
            await self._dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _ready_payload(self) -> Json:
        """The READY payload: the bot user, the guild as unavailable, the application."""
        return {
            "v": 10,
            "user": self.users[self.bot_user_id],
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 1 << 19},
            "private_channels": [],
            "relationships": [],
        }

    # ----------------------------------------------------------------- REST plumbing

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        """(method, path regex, handler) for every REST route the fake serves."""
        app = r"(\d+)"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/users/@me", self._get_me),
            ("POST", r"/attachments/refresh-urls", self._refresh_urls),
            ("GET", r"/users/(\d+)", self._get_user),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", rf"/applications/{app}/commands", self._get_commands),
            ("PUT", rf"/applications/{app}/commands", self._put_commands),
            ("GET", rf"/applications/{app}/guilds/(\d+)/commands", self._get_commands),
            ("PUT", rf"/applications/{app}/guilds/(\d+)/commands", self._put_commands),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback),
            ("GET", r"/webhooks/(\d+)", self._get_webhook),
            ("GET", r"/webhooks/(\d+)/([^/]+)", self._get_webhook),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._execute_webhook),
            ("GET", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_message),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_message),
            ("DELETE", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_message),
            ("GET", r"/channels/(\d+)", self._get_channel),
            ("GET", r"/channels/(\d+)/messages", self._get_history),
            ("POST", r"/channels/(\d+)/messages", self._post_message),
            ("GET", r"/channels/(\d+)/messages/(\d+)", self._channel_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._channel_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", self._channel_message),
            ("PUT", r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", self._add_reaction),
            (
                "DELETE",
                r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me",
                self._remove_reaction,
            ),
            ("POST", r"/channels/(\d+)/typing", self._typing),
            ("GET", r"/channels/(\d+)/webhooks", self._get_channel_webhooks),
            ("POST", r"/channels/(\d+)/webhooks", self._create_webhook),
            ("GET", r"/guilds/(\d+)", self._get_guild),
            ("GET", r"/guilds/(\d+)/channels", self._get_guild_channels),
            ("GET", r"/guilds/(\d+)/members/(\d+)", self._get_member),
            ("GET", r"/guilds/(\d+)/roles", self._get_roles),
        ]
        return [(method, re.compile(path), handler) for method, path, handler in routes]

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        """Route an /api/v10 request; unknown routes are logged and answered 404."""
        path = "/" + request.match_info["tail"]
        for method, pattern, intercept in self._intercepts:
            if method == request.method and pattern.fullmatch(path):
                answer = await intercept(request)
                if answer is not None:
                    return answer
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                return await handler(request, *match.groups())
        self.unknown_routes.append(f"{request.method} {path}")
        log.warning("fake discord: unknown route %s %s", request.method, path)
        return error(404, "Unknown", 0)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[Json]]:
        """JSON body, or multipart `payload_json` plus `files[n]` uploads."""
        if not request.content_type.startswith("multipart/"):
            raw = await request.read()
            return (json.loads(raw) if raw else {}), []
        payload: Any = {}
        files: list[Json] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = bytes(await part.read())
            if name == "payload_json":
                payload = json.loads(data)
            elif name.startswith("files["):
                filename = part.filename or name
                upload = {"filename": filename, "data": data, "content_type": _guess_type(filename)}
                files.append({"index": int(name[6:-1]), **upload})
        return payload, files

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        """Serve uploaded attachment bytes, as Discord's CDN does: only on a valid signed link."""
        blob = self._blobs.get(int(request.match_info["attachment"]))
        if blob is None or not self._link_valid(
            request.path, request.query.get("ex", ""), request.query.get("hm", "")
        ):
            self.refused_links.append(str(request.url))
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=blob[0], headers={"Content-Type": blob[1]})

    # Discord signs attachment links: `ex` is the expiry (hex Unix seconds), `hm` signs it.

    def _signature(self, path: str, expiry: str) -> str:
        return hashlib.sha256(f"fake-cdn:{path}:{expiry}".encode()).hexdigest()[:32]

    def signed_link(self, path: str, expires_in: float = LINK_LIFETIME_SECONDS) -> str:
        """A CDN link to `path` that stays valid for `expires_in` seconds (negative: expired)."""
        now = int(time.time())
        expiry = f"{now + int(expires_in):x}"
        signature = self._signature(path, expiry)
        return f"{self.base_url}{path}?ex={expiry}&is={now:x}&hm={signature}&"

    def expired_link(self, url: str) -> str:
        """The same attachment link as Discord hands it out a day later: expired."""
        return self.signed_link(urlsplit(url).path, expires_in=-3600)

    def _link_valid(self, path: str, expiry: str, signature: str) -> bool:
        try:
            fresh = int(expiry, 16) > time.time()
        except ValueError:
            return False
        return fresh and signature == self._signature(path, expiry)

    async def _refresh_urls(self, request: web.Request) -> web.StreamResponse:
        """POST /attachments/refresh-urls: a freshly signed link for each of this CDN's links."""
        body, _ = await self._read_body(request)
        urls = body.get("attachment_urls") if isinstance(body, dict) else None
        if not isinstance(urls, list) or not 1 <= len(urls) <= 50:
            return error(400, "Invalid Form Body", 50035)
        refreshed = []
        for url in urls:
            self.refresh_requests.append(url)
            parts = urlsplit(str(url))
            ours = f"{parts.scheme}://{parts.netloc}" == self.base_url
            if ours and int(parts.path.split("/")[3]) in self._blobs:
                refreshed.append({"original": url, "refreshed": self.signed_link(parts.path)})
            else:
                refreshed.append({"original": url, "refreshed": url})
        return json_response({"refreshed_urls": refreshed})

    # ----------------------------------------------------------------- REST: app & users

    async def _get_me(self, request: web.Request) -> web.StreamResponse:
        """GET /users/@me."""
        return json_response(self.users[self.bot_user_id])

    async def _get_user(self, request: web.Request, user_id: str) -> web.StreamResponse:
        """GET /users/{id}."""
        user = self.users.get(int(user_id))
        return json_response(user) if user else error(404, "Unknown User", 10013)

    async def _get_gateway(self, request: web.Request) -> web.StreamResponse:
        """GET /gateway and /gateway/bot."""
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_application(self, request: web.Request) -> web.StreamResponse:
        """GET /oauth2/applications/@me."""
        return json_response(
            {
                "id": str(self.application_id),
                "name": "Tavernkeep",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.users[self.admin_id],
                "team": None,
                "verify_key": "0" * 64,
                "flags": 1 << 19,
                "bot": self.users[self.bot_user_id],
                "interactions_endpoint_url": None,
                "redirect_uris": [],
            }
        )

    async def _get_commands(
        self, request: web.Request, app_id: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        """GET global or guild commands."""
        store = self.global_commands if guild_id is None else self.guild_commands
        return json_response(list(store.values()))

    async def _put_commands(
        self, request: web.Request, app_id: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        """PUT (bulk overwrite) global or guild commands; ids are stable per name."""
        store = self.global_commands if guild_id is None else self.guild_commands
        body, _ = await self._read_body(request)
        registered: dict[str, Json] = {}
        for command in body:
            previous = store.get(command["name"])
            stored = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": previous["id"] if previous else str(self._ids.next()),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
            }
            if guild_id is not None:
                stored["guild_id"] = guild_id
            registered[command["name"]] = stored
        store.clear()
        store.update(registered)
        return json_response(list(registered.values()))

    # ----------------------------------------------------------------- REST: interactions

    async def _interaction_callback(
        self, request: web.Request, interaction_id: str, token: str
    ) -> web.StreamResponse:
        """POST /interactions/{id}/{token}/callback; answers with the with_response JSON body."""
        handle = self.interactions.get(token)
        if handle is None or handle.id != int(interaction_id):
            return error(404, "Unknown interaction", 10062)
        if handle.responded:
            return error(400, "Interaction has already been acknowledged.", 40060)
        body, files = await self._read_body(request)
        kind = body["type"]
        data = body.get("data") or {}
        message: Json | None = None
        if kind == 4:
            message = await self._interaction_message(handle, data, files)
        elif kind == 5:
            loading = {"content": "", "flags": data.get("flags") or 0}
            message = await self._interaction_message(handle, loading, [], LOADING)
        elif kind in (6, 7) and handle.message_id is not None:
            message = self.message(handle.message_id)
            if kind == 7:
                await self._edit_message(message, data, files)
        if message is not None:
            handle.original_message_id = int(message["id"])
        handle._set_response({**body, "files": files} if files else body)
        answer: Json = {
            "interaction": {
                "id": interaction_id,
                "type": handle.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool((message or {}).get("flags", 0) & EPHEMERAL),
            }
        }
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": wire(message)}
        return json_response(answer)

    def _original(self, handle: Interaction) -> Json | None:
        """The interaction's original response message, if it has one."""
        if handle.original_message_id is None:
            return None
        return self._by_id.get(handle.original_message_id)

    async def _interaction_webhook_message(
        self, request: web.Request, handle: Interaction, message_id: str
    ) -> web.StreamResponse:
        """GET/PATCH/DELETE of @original or a followup message of an interaction."""
        if message_id == "@original":
            message = self._original(handle)
        else:
            message = self._by_id.get(int(message_id))
        if message is None or message["deleted"]:
            return error(404, "Unknown Message", 10008)
        if request.method == "GET":
            return json_response(wire(message))
        if request.method == "DELETE":
            await self._delete_message(message)
            return no_content()
        body, files = await self._read_body(request)
        await self._edit_message(message, body, files)
        handle._add_followup(message)
        return json_response(wire(message))

    async def _interaction_followup(
        self, request: web.Request, handle: Interaction
    ) -> web.StreamResponse:
        """POST /webhooks/{app}/{token}: a followup (the first one after a defer fills it in)."""
        body, files = await self._read_body(request)
        original = self._original(handle)
        if original is not None and original["flags"] & LOADING and not original["deleted"]:
            message = await self._edit_message(original, body, files)
        else:
            message = await self._interaction_message(handle, body, files)
        handle._add_followup(message)
        if not _truthy(request.query.get("wait")):
            return no_content()
        return json_response(wire(message))

    # ----------------------------------------------------------------- REST: webhooks

    def _webhook(self, webhook_id: str, token: str | None) -> Json | None:
        """A channel webhook by id (and token, when given)."""
        hook = self.webhooks.get(int(webhook_id))
        if hook is None or (token is not None and hook["token"] != token):
            return None
        return hook

    async def _get_webhook(
        self, request: web.Request, webhook_id: str, token: str | None = None
    ) -> web.StreamResponse:
        """GET /webhooks/{id}[/{token}]."""
        hook = self._webhook(webhook_id, token)
        return json_response(hook) if hook else error(404, "Unknown Webhook", 10015)

    async def _get_channel_webhooks(
        self, request: web.Request, channel_id: str
    ) -> web.StreamResponse:
        """GET /channels/{id}/webhooks."""
        hooks = [h for h in self.webhooks.values() if h["channel_id"] == channel_id]
        return json_response(hooks)

    async def _create_webhook(self, request: web.Request, channel_id: str) -> web.StreamResponse:
        """POST /channels/{id}/webhooks."""
        if int(channel_id) not in self.channels:
            return error(404, "Unknown Channel", 10003)
        body, _ = await self._read_body(request)
        webhook_id = self._ids.next()
        hook = {
            "id": str(webhook_id),
            "type": 1,
            "guild_id": str(self.guild_id),
            "channel_id": channel_id,
            "name": body.get("name") or "Captain Hook",
            "avatar": None,
            "token": f"webhook-token-{webhook_id}",
            "application_id": str(self.application_id),
            "user": self.users[self.bot_user_id],
        }
        self.webhooks[webhook_id] = hook
        return json_response(hook)

    async def _execute_webhook(
        self, request: web.Request, webhook_id: str, token: str
    ) -> web.StreamResponse:
        """POST /webhooks/{id}/{token}: interaction followup or channel-webhook execution."""
        handle = self.interactions.get(token)
        if handle is not None and int(webhook_id) == self.application_id:
            return await self._interaction_followup(request, handle)
        hook = self._webhook(webhook_id, token)
        if hook is None:
            return error(404, "Unknown Webhook", 10015)
        body, files = await self._read_body(request)
        query = dict(request.query)
        self.webhook_executions.append(
            {**body, "webhook_id": int(webhook_id), "query": query, "files": files}
        )
        thread_id = int(query["thread_id"]) if "thread_id" in query else None
        channel_id = thread_id or int(hook["channel_id"])
        username = body.get("username")
        message = await self._create_message(
            channel_id,
            body,
            files,
            author=webhook_author(int(webhook_id), username or hook["name"]),
            member=None,
            source="webhook",
            webhook_id=int(webhook_id),
            username=username,
            avatar_url=body.get("avatar_url"),
            thread_id=thread_id,
        )
        if not _truthy(query.get("wait")):
            return no_content()
        return json_response(wire(message))

    async def _webhook_message(
        self, request: web.Request, webhook_id: str, token: str, message_id: str
    ) -> web.StreamResponse:
        """GET/PATCH/DELETE /webhooks/{id}/{token}/messages/{mid|@original}."""
        handle = self.interactions.get(token)
        if handle is not None and int(webhook_id) == self.application_id:
            return await self._interaction_webhook_message(request, handle, message_id)
        if self._webhook(webhook_id, token) is None:
            return error(404, "Unknown Webhook", 10015)
        message = self._by_id.get(int(message_id)) if message_id.isdigit() else None
        if message is None or message["deleted"] or message.get("webhook_id") != webhook_id:
            return error(404, "Unknown Message", 10008)
        if request.method == "GET":
            return json_response(wire(message))
        if request.method == "DELETE":
            await self._delete_message(message)
            return no_content()
        body, files = await self._read_body(request)
        return json_response(wire(await self._edit_message(message, body, files)))

    # ----------------------------------------------------------------- REST: channels & guild

    async def _get_channel(self, request: web.Request, channel_id: str) -> web.StreamResponse:
        """GET /channels/{id}."""
        channel = self.channels.get(int(channel_id))
        return json_response(channel) if channel else error(404, "Unknown Channel", 10003)

    async def _get_history(self, request: web.Request, channel_id: str) -> web.StreamResponse:
        """GET /channels/{id}/messages (newest first; limit/before/after)."""
        limit = int(request.query.get("limit", 50))
        before = int(request.query.get("before", 1 << 63))
        after = int(request.query.get("after", 0))
        found = [
            wire(m)
            for m in reversed(self.messages)
            if m["channel_id"] == channel_id
            and not m["deleted"]
            and not m["flags"] & EPHEMERAL
            and after < int(m["id"]) < before
        ]
        if "after" in request.query:
            found = found[-limit:]
        return json_response(found[:limit])

    async def _post_message(self, request: web.Request, channel_id: str) -> web.StreamResponse:
        """POST /channels/{id}/messages (JSON or multipart with files)."""
        if int(channel_id) not in self.channels:
            return error(404, "Unknown Channel", 10003)
        body, files = await self._read_body(request)
        message = await self._create_message(
            int(channel_id),
            body,
            files,
            author=self.users[self.bot_user_id],
            member=self.members[self.bot_user_id],
            source="rest",
        )
        return json_response(wire(message))

    async def _channel_message(
        self, request: web.Request, channel_id: str, message_id: str
    ) -> web.StreamResponse:
        """GET/PATCH/DELETE /channels/{id}/messages/{mid}."""
        message = self._by_id.get(int(message_id))
        if message is None or message["deleted"] or message["channel_id"] != channel_id:
            return error(404, "Unknown Message", 10008)
        if request.method == "GET":
            return json_response(wire(message))
        mine = message["author"]["id"] == str(self.bot_user_id)
        if request.method == "DELETE":
            if not mine and not self.permissions_of(self.bot_user_id) & MANAGE_MESSAGES:
                return error(403, "Missing Permissions", 50013)
            await self._delete_message(message)
            return no_content()
        if not mine:
            return error(403, "Cannot edit a message authored by another user", 50005)
        body, files = await self._read_body(request)
        return json_response(wire(await self._edit_message(message, body, files)))

    async def _add_reaction(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str
    ) -> web.StreamResponse:
        """PUT /channels/{id}/messages/{mid}/reactions/{emoji}/@me (unicode emoji)."""
        message = self._by_id.get(int(message_id))
        if message is None or message["deleted"] or message["channel_id"] != channel_id:
            return error(404, "Unknown Message", 10008)
        if not self.permissions_of(self.bot_user_id) & ADD_REACTIONS:
            return error(403, "Missing Permissions", 50013)
        name = unquote(emoji)
        self.reactions.append((int(message_id), name, self.bot_user_id))
        event = {
            "user_id": str(self.bot_user_id),
            "channel_id": channel_id,
            "message_id": message_id,
            "guild_id": str(self.guild_id),
            "member": self.full_member(self.bot_user_id),
            "emoji": {"id": None, "name": name},
            "message_author_id": message["author"]["id"],
            "burst": False,
            "type": 0,
        }
        await self._dispatch("MESSAGE_REACTION_ADD", event)
        return no_content()

    async def _remove_reaction(
        self, request: web.Request, channel_id: str, message_id: str, emoji: str
    ) -> web.StreamResponse:
        """DELETE /channels/{id}/messages/{mid}/reactions/{emoji}/@me: the bot's own reaction."""
        message = self._by_id.get(int(message_id))
        if message is None or message["deleted"] or message["channel_id"] != channel_id:
            return error(404, "Unknown Message", 10008)
        reaction = (int(message_id), unquote(emoji), self.bot_user_id)
        if reaction in self.reactions:  # Discord answers 204 for a reaction that is not there
            self.reactions.remove(reaction)
            self.removed_reactions.append(reaction)
            event = {
                "user_id": str(self.bot_user_id),
                "channel_id": channel_id,
                "message_id": message_id,
                "guild_id": str(self.guild_id),
                "emoji": {"id": None, "name": reaction[1]},
                "burst": False,
                "type": 0,
            }
            await self._dispatch("MESSAGE_REACTION_REMOVE", event)
        return no_content()

    async def _typing(self, request: web.Request, channel_id: str) -> web.StreamResponse:
        """POST /channels/{id}/typing."""
        self.typing_events.append(int(channel_id))
        return no_content()

    async def _get_guild(self, request: web.Request, guild_id: str) -> web.StreamResponse:
        """GET /guilds/{id}."""
        if int(guild_id) != self.guild_id:
            return error(404, "Unknown Guild", 10004)
        data = self.guild_payload()
        for key in ("channels", "threads", "members", "presences", "voice_states"):
            data.pop(key)
        return json_response(data)

    async def _get_guild_channels(self, request: web.Request, guild_id: str) -> web.StreamResponse:
        """GET /guilds/{id}/channels."""
        return json_response([c for c in self.channels.values() if c["type"] != 11])

    async def _get_member(
        self, request: web.Request, guild_id: str, user_id: str
    ) -> web.StreamResponse:
        """GET /guilds/{id}/members/{uid}."""
        if int(user_id) not in self.members:
            return error(404, "Unknown Member", 10007)
        return json_response(self.full_member(int(user_id)))

    async def _get_roles(self, request: web.Request, guild_id: str) -> web.StreamResponse:
        """GET /guilds/{id}/roles."""
        return json_response(list(self.roles.values()))


def wire_attachment(attachment: Json) -> Json:
    """An attachment object without its stored bytes."""
    return {k: v for k, v in attachment.items() if k != "data"}


def _as_list(options: Options) -> list[Json]:
    """Options given as a list of {name, value[, type]} or as a {name: value} mapping, as a list."""
    if options is None:
        return []
    if isinstance(options, dict):
        return [{"name": k, "value": v} for k, v in options.items()]
    return [dict(o) for o in options]


def _guess_type(filename: str) -> str:
    """A content type from a file name."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
