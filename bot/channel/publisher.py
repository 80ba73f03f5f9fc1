"""Posting stored NPC turns as their characters, and keeping the buttons on the newest one."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import cast

from bot.channel.avatars import link_expired
from bot.channel.placeholders import discard
from bot.channel.ports import MessageGone, Poster
from bot.channel.sessions import ChannelSession
from bot.director import StoredTurn
from bot.scenes.greetings import store_greeting
from bot.store import Character, NotFoundError, Scene, Stores, Turn

log = logging.getLogger(__name__)
RECENT_NPC_WINDOW = 32


class TurnPublisher:
    """Puts turns into the channel through the poster and records where they went."""

    def __init__(self, stores: Stores, poster: Poster, narrator_avatar: str | None = None) -> None:
        self.stores = stores
        self.poster = poster
        self.narrator_avatar = narrator_avatar

    async def post(self, scene: Scene, turn: StoredTurn) -> list[int]:
        """Post a pending turn part by part, recording each; it joins the history once whole."""
        # A post that fails half-way takes its parts down again: a turn is in the channel and
        # in the history whole or not at all.
        sent: list[int] = []

        async def record(message_id: int) -> None:
            sent.append(message_id)  # first: a part whose id the store refused still goes down
            await self.stores.turns.add_message_id(turn.id, message_id, len(sent) - 1)

        try:
            avatar = await self.avatar(turn)
            await self.poster.post_turn(
                scene.channel_id, turn.speaker, avatar, turn.content, on_part=record
            )
            await self.stores.turns.mark_posted(turn.id)
        except BaseException:
            await self.withdraw(scene.channel_id, turn.id, sent)
            raise
        return sent

    async def withdraw(self, channel_id: int, turn_id: int, message_ids: Sequence[int]) -> None:
        """Take a turn that was never posted whole out of the channel, then out of the store.

        The placeholder of a turn that was being written goes altogether: it was never a turn.
        """
        try:
            if message_ids:
                await self.poster.delete_messages(channel_id, message_ids)
            if not await discard(self.stores, turn_id):
                await self.stores.turns.mark_deleted(turn_id)
        except Exception:
            # It stays pending with its parts recorded, so the next start takes them down.
            log.warning("could not take back unposted turn %s", turn_id, exc_info=True)

    async def repost(
        self, scene: Scene, session: ChannelSession, before: Turn, after: Turn
    ) -> None:
        """Show a swiped or continued turn in place; if Discord refuses, restore the old one."""
        avatar = await self.avatar(after)
        try:
            ids = await self.poster.edit_turn(
                scene.channel_id, before.message_ids, after.speaker, avatar, after.content
            )
        except MessageGone:
            await self.stores.turns.restore(before)  # nothing left to show the old text in
            raise
        except BaseException:
            await self.stores.turns.restore(before)
            await self._show_again(scene.channel_id, before, avatar)
            raise
        if list(ids) != list(before.message_ids):
            await self.stores.turns.set_message_ids(after.id, ids)
        newest = await self.stores.turns.last(scene.id)
        if newest is not None and newest.id == after.id:  # a middle turn leaves the buttons be
            await self.move_controls(session, ids[-1], after.id)

    async def _show_again(self, channel_id: int, turn: Turn, avatar: str | None) -> None:
        """An edit that failed after its first part left new text there: put the old back."""
        try:
            await self.poster.edit_turn(
                channel_id, turn.message_ids, turn.speaker, avatar, turn.content
            )
        except Exception:
            log.warning("could not put turn %s back as it was", turn.id, exc_info=True)

    async def greet(self, scene: Scene, npc: Character) -> None:
        """An NPC joining says its greeting, with the card's other greetings as its swipes."""
        players = [c.name for _, c in await self.stores.scenes.players(scene.id)]
        group = len(players) > 1 or len(await self.stores.scenes.cast(scene.id)) > 1
        turn = await store_greeting(
            self.stores.turns, scene.id, npc, players, group=group, pending=True
        )
        if turn is not None:
            await self.post(scene, turn)

    async def avatar(self, turn: StoredTurn) -> str | None:
        """The speaker's avatar link, refreshed first when Discord has expired it."""
        if turn.role == "narration":
            return await self.fresh_link(self.narrator_avatar)
        character_id = cast(Turn, turn).character_id
        if character_id is None:
            return None
        try:
            url = (await self.stores.characters.get(character_id)).avatar_url
        except NotFoundError:
            return None
        fresh = await self.fresh_link(url)
        if fresh != url:
            await self.stores.characters.update(character_id, avatar_url=fresh)
        return fresh

    async def fresh_link(self, url: str | None) -> str | None:
        """`url`, or a refreshed link when it is an expired Discord attachment link."""
        if url is None or not link_expired(url, time.time()):
            return url
        try:
            return (await self.poster.refresh_links([url])).get(url, url)
        except Exception:  # an old avatar beats no post: Discord shows the default one
            log.warning("could not refresh an expired avatar link", exc_info=True)
            return url

    async def move_controls(self, session: ChannelSession, message_id: int, turn_id: int) -> None:
        """Buttons live on the newest NPC message only."""
        channel_id = session.channel_id
        previous = session.controls_message_id or await self._last_npc_message(turn_id)
        if previous is not None and previous != message_id:
            try:
                await self.poster.set_controls(channel_id, previous, None)
            except Exception:  # the old message may be gone; losing its buttons is harmless
                log.debug("could not clear buttons on %s", previous, exc_info=True)
        await self.poster.set_controls(channel_id, message_id, turn_id)
        session.controls_message_id = message_id

    async def _last_npc_message(self, turn_id: int) -> int | None:
        """After a restart: the newest earlier NPC message, which may still carry buttons."""
        turns = self.stores.turns
        scene_id = (await turns.get(turn_id)).scene_id
        for turn in reversed(await turns.window(scene_id, RECENT_NPC_WINDOW)):
            if turn.role == "model" and turn.id != turn_id and turn.message_ids:
                return turn.message_ids[-1]
        return None
