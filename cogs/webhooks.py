"""Posting as characters: one bot-owned webhook per channel, `**Name**: text` without one."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import discord

from bot.channel.ports import IncomingMessage, MessageGone, PartSent
from bot.channel.text import MESSAGE_LIMIT, split_message, webhook_username
from cogs.buttons import turn_controls
from cogs.common import NO_MENTIONS, incoming

log = logging.getLogger("tavernkeep.discord")
WEBHOOK_NAME = "Tavernkeep"
WEBHOOK_RETRY_SECONDS = 600.0
UNKNOWN_WEBHOOK = 10015  # Discord's error code for a webhook that was deleted
UNSAVED_MARK = "\N{WARNING SIGN}\N{VARIATION SELECTOR-16}"  # on a message the bot could not store


@dataclass
class Target:
    """Where to post: the channel, and the thread inside it when posting to a thread."""

    channel: discord.abc.Messageable
    parent: discord.TextChannel | discord.ForumChannel | None
    thread: discord.Thread | None


class WebhookPoster:
    """Implements `bot.channel.ports.Poster` with channel webhooks."""

    def __init__(self, client: discord.Client, *, live: bool = False) -> None:
        self.client = client
        self.live = live  # STREAM_POSTS: NPC turns shown as they are written
        self._hooks: dict[int, discord.Webhook | None] = {}
        self._retry_at: dict[int, float] = {}
        self._own_ids: set[int] = set()

    def owns_webhook(self, webhook_id: int) -> bool:
        return webhook_id in self._own_ids

    async def _target(self, channel_id: int) -> Target:
        channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
        if isinstance(channel, discord.Thread):
            parent = channel.parent
            return Target(
                channel,
                parent if isinstance(parent, discord.TextChannel | discord.ForumChannel) else None,
                channel,
            )
        if isinstance(channel, discord.TextChannel):
            return Target(channel, channel, None)
        if isinstance(channel, discord.abc.Messageable):
            return Target(channel, None, None)
        raise RuntimeError(f"channel {channel_id} cannot hold messages")

    async def _webhook(self, target: Target) -> discord.Webhook | None:
        """The bot's webhook on the (parent) channel; None when Manage Webhooks is missing."""
        parent = target.parent
        if parent is None:
            return None
        if parent.id in self._hooks:
            cached = self._hooks[parent.id]
            if cached is not None or time.monotonic() < self._retry_at.get(parent.id, 0.0):
                return cached
        hook: discord.Webhook | None = None
        try:
            me = self.client.user
            for existing in await parent.webhooks():
                if (
                    existing.token
                    and existing.user is not None
                    and me
                    and existing.user.id == me.id
                ):
                    hook = existing
                    break
            if hook is None:
                hook = await parent.create_webhook(name=WEBHOOK_NAME, reason="Tavernkeep NPC posts")
        except discord.Forbidden:
            log.warning("no Manage Webhooks in #%s: posting NPC turns as the bot", parent)
            # Ask again later: an admin may grant the permission without restarting the bot.
            self._retry_at[parent.id] = time.monotonic() + WEBHOOK_RETRY_SECONDS
        if hook is not None:
            self._own_ids.add(hook.id)
        self._hooks[parent.id] = hook
        return hook

    async def _send(
        self,
        target: Target,
        hook: discord.Webhook | None,
        speaker: str,
        avatar: str | None,
        text: str,
    ) -> discord.Message:
        if hook is None:
            return await target.channel.send(f"**{speaker}**: {text}", allowed_mentions=NO_MENTIONS)
        return await hook.send(
            text,
            username=webhook_username(speaker),
            avatar_url=avatar or discord.utils.MISSING,
            thread=target.thread or discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )

    @staticmethod
    def _split(hook: discord.Webhook | None, speaker: str, text: str) -> list[str]:
        """Message-sized parts; without a webhook each part also carries `**Name**: `."""
        prefix = 0 if hook is not None else len(f"**{speaker}**: ")
        return split_message(text, MESSAGE_LIMIT - prefix)

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        target = await self._target(channel_id)
        ids: list[int] = []
        for attempt in range(2):
            hook = await self._webhook(target)
            try:
                for part in self._split(hook, speaker, text):
                    ids.append((await self._send(target, hook, speaker, avatar_url, part)).id)
                    await on_part(ids[-1])
                return ids
            except discord.NotFound as exc:
                # A webhook deleted before the first part: make a new one and post again.
                if hook is None or attempt or ids or not self._forget_dead_webhook(target, exc):
                    raise
        raise AssertionError("unreachable")

    async def post_live(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        return await self.post_turn(channel_id, speaker, avatar_url, text, on_part)

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
        return await self.edit_turn(channel_id, message_ids, speaker, avatar_url, text)

    def rate_key(self, channel_id: int) -> int | None:
        """A thread's posts go through its parent's webhook: they share its limits."""
        channel = self.client.get_channel(channel_id)
        if isinstance(channel, discord.Thread) and channel.parent_id:
            return channel.parent_id
        return channel_id

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        target = await self._target(channel_id)
        hook = await self._webhook(target)
        parts = self._split(hook, speaker, text)
        ids: list[int] = []
        try:
            for index, part in enumerate(parts):
                if index < len(message_ids):
                    content = part if hook else f"**{speaker}**: {part}"
                    await self._edit_or_gone(target, message_ids[index], content)
                    ids.append(message_ids[index])
                else:
                    ids.append((await self._send(target, hook, speaker, avatar_url, part)).id)
        except BaseException:
            # The turn keeps its old messages; parts sent for the new text must not linger.
            with contextlib.suppress(discord.HTTPException):
                await self.delete_messages(channel_id, ids[len(message_ids) :])
            raise
        await self.delete_messages(channel_id, message_ids[len(parts) :])
        return ids

    async def _edit_or_gone(self, target: Target, message_id: int, content: str) -> None:
        """Edit a message's text; `MessageGone` when a moderator deleted it meanwhile."""
        try:
            await self._edit(target, message_id, content=content)
        except discord.NotFound:
            if not await self._exists(target, message_id):
                raise MessageGone(message_id) from None
            raise

    async def _exists(self, target: Target, message_id: int) -> bool:
        try:
            await target.channel.fetch_message(message_id)
        except discord.NotFound:
            return False
        return True

    async def _edit(
        self,
        target: Target,
        message_id: int,
        *,
        content: str = discord.utils.MISSING,
        view: discord.ui.View | None = discord.utils.MISSING,
    ) -> None:
        """Edit through the webhook (a new one if a moderator deleted ours), else as the bot."""
        for attempt in range(2):
            hook = await self._webhook(target)
            try:
                if hook is None:
                    partial = target.channel.get_partial_message(message_id)  # type: ignore[attr-defined]
                    await partial.edit(content=content, view=view, allowed_mentions=NO_MENTIONS)
                else:
                    await hook.edit_message(
                        message_id,
                        content=content,
                        view=view,
                        thread=target.thread or discord.utils.MISSING,
                        allowed_mentions=NO_MENTIONS,
                    )
                return
            except discord.NotFound as exc:
                if attempt or not self._forget_dead_webhook(target, exc):
                    raise

    def _forget_dead_webhook(self, target: Target, error: discord.NotFound) -> bool:
        """Drop a remembered webhook Discord no longer knows; True if it was one."""
        if error.code != UNKNOWN_WEBHOOK or target.parent is None:
            return False
        log.warning("the NPC webhook of #%s was deleted; making a new one", target.parent)
        self._hooks.pop(target.parent.id, None)
        return True

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        if not message_ids:
            return
        target = await self._target(channel_id)
        for message_id in message_ids:
            await self._delete(target, message_id)

    async def _delete(self, target: Target, message_id: int) -> None:
        """Take one message down: through the webhook, else as the bot; gone already is fine.

        A message of a webhook a moderator deleted can only go with Manage Messages; without
        it Discord refuses, and the refusal is raised so the history keeps the turn.
        """
        hook = await self._webhook(target)
        if hook is not None:
            try:
                await hook.delete_message(message_id, thread=target.thread or discord.utils.MISSING)
                return
            except discord.NotFound as exc:
                # A dead webhook, a message already gone, or one an older webhook of ours posted.
                self._forget_dead_webhook(target, exc)
        with contextlib.suppress(discord.NotFound):
            await target.channel.get_partial_message(message_id).delete()  # type: ignore[attr-defined]

    async def set_controls(self, channel_id: int, message_id: int, turn_id: int | None) -> None:
        target = await self._target(channel_id)
        view = turn_controls(turn_id) if turn_id is not None else None
        await self._edit(target, message_id, view=view)

    async def notice(self, channel_id: int, text: str) -> None:
        target = await self._target(channel_id)
        await target.channel.send(f"*{text}*", allowed_mentions=NO_MENTIONS)

    async def refresh_links(self, urls: Sequence[str]) -> dict[str, str]:
        # discord.py has no call for this route (Discord added it in 2024): ask for it directly.
        route = discord.http.Route("POST", "/attachments/refresh-urls")
        data = await self.client.http.request(route, json={"attachment_urls": list(urls)})
        return {
            item["original"]: item["refreshed"]
            for item in data.get("refreshed_urls", [])
            if item.get("refreshed")
        }

    async def mark_unsaved(self, channel_id: int, message_id: int) -> None:
        target = await self._target(channel_id)
        message = target.channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        await message.add_reaction(UNSAVED_MARK)

    async def unmark_unsaved(self, channel_id: int, message_id: int) -> None:
        target = await self._target(channel_id)
        message = target.channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        me = self.client.user
        assert me is not None  # posting at all needs a logged-in client
        await message.remove_reaction(UNSAVED_MARK, me)

    async def messages_after(
        self, channel_id: int, after_id: int, limit: int
    ) -> list[IncomingMessage]:
        target = await self._target(channel_id)
        # Learn this channel's own webhook first: its posts (NPC turns) are no player's.
        await self._webhook(target)
        history = target.channel.history(
            limit=limit, after=discord.Object(after_id), oldest_first=True
        )
        me = self.client.user
        return [seen async for message in history if (seen := incoming(message, me)) is not None]

    @contextlib.asynccontextmanager
    async def typing(self, channel_id: int) -> AsyncIterator[None]:
        target = await self._target(channel_id)
        async with target.channel.typing():
            yield
