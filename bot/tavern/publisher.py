"""Posting stored NPC turns as their characters, and keeping the buttons on the newest one."""

from __future__ import annotations

import logging
from typing import cast

from bot.director import StoredTurn
from bot.prompts.macros import resolve_macros, user_value
from bot.store import Character, NotFoundError, Scene, Stores, Turn
from bot.tavern.common import Poster
from bot.tavern.sessions import ChannelSession

log = logging.getLogger(__name__)
RECENT_NPC_WINDOW = 32


class TurnPublisher:
    """Puts turns into the channel through the poster and records where they went."""

    def __init__(self, stores: Stores, poster: Poster) -> None:
        self.stores = stores
        self.poster = poster

    async def post(self, scene: Scene, turn: StoredTurn) -> list[int]:
        """Post a stored NPC turn as its character and remember the message ids."""
        ids = await self.poster.post_turn(
            scene.channel_id, turn.speaker, await self.avatar(turn), turn.content
        )
        await self.stores.turns.set_message_ids(turn.id, ids)
        return ids

    async def repost(self, scene: Scene, session: ChannelSession, turn: Turn) -> None:
        """Show a changed turn (swiped or continued) in place of its old messages."""
        avatar = await self.avatar(turn)
        ids = await self.poster.edit_turn(
            scene.channel_id, turn.message_ids, turn.speaker, avatar, turn.content
        )
        if list(ids) != list(turn.message_ids):
            await self.stores.turns.set_message_ids(turn.id, ids)
        await self.move_controls(session, ids[-1], turn.id)

    async def greet(self, scene: Scene, npc: Character) -> None:
        """An NPC joining with a greeting says it, as a stored turn."""
        if not npc.greeting:
            return
        players = [c.name for _, c in await self.stores.scenes.players(scene.id)]
        text = resolve_macros(npc.greeting, char=npc.name, user=user_value(players))
        turn = await self.stores.turns.append(
            scene.id, role="model", speaker=npc.name, content=text, character_id=npc.id
        )
        await self.post(scene, turn)

    async def avatar(self, turn: StoredTurn) -> str | None:
        character_id = cast(Turn, turn).character_id
        if character_id is None:
            return None
        try:
            return (await self.stores.characters.get(character_id)).avatar_url
        except NotFoundError:
            return None

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
