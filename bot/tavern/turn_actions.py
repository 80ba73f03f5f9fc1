"""Swipe, Continue and Delete on an NPC turn."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import cast

from bot.director import DirectorError, StoredTurn, TurnDirector
from bot.scenes.views import SceneViews
from bot.store import NotFoundError, Scene, Stores, Turn
from bot.tavern.access import Access
from bot.tavern.common import Actor, Reply, UserError
from bot.tavern.publisher import TurnPublisher
from bot.tavern.sessions import ChannelSessions


class TurnActions:
    """What the buttons under an NPC turn do."""

    def __init__(
        self,
        stores: Stores,
        views: SceneViews,
        director: TurnDirector,
        access: Access,
        sessions: ChannelSessions,
        publisher: TurnPublisher,
    ) -> None:
        self.scenes = stores.scenes
        self.turns = stores.turns
        self.views = views
        self.director = director
        self.access = access
        self.sessions = sessions
        self.publisher = publisher

    async def _turn_for(self, actor: Actor, turn_id: int) -> tuple[Scene, Turn]:
        try:
            turn = await self.turns.get(turn_id)
        except NotFoundError:
            raise UserError("That turn no longer exists.") from None
        scene = await self.scenes.get(turn.scene_id)
        if not scene.active or turn.deleted:
            raise UserError("That turn is no longer part of an active scene.")
        await self.access.require_participant(actor, scene)
        return scene, turn

    async def swipe(self, actor: Actor, turn_id: int) -> Reply:
        """Regenerate an NPC turn in place, keeping the earlier text as an alternative."""
        scene, _ = await self._turn_for(actor, turn_id)
        self.access.cooldown(actor, "swipe")
        session = self.sessions.get(scene.channel_id)
        async with session.lock:
            scene, turn = await self._turn_for(actor, turn_id)  # a round may have changed it
            view = await self.views.view(scene)
            async with self.publisher.poster.typing(scene.channel_id):
                with session.cancellable() as cancel:
                    new = await _user_facing(self.director.swipe(view, turn, cancel=cancel))
            await self.publisher.repost(scene, session, new)
        return Reply(f"Swiped {new.speaker}'s turn ({len(new.swipes)} versions kept).")

    async def extend(self, actor: Actor, turn_id: int) -> Reply:
        """Continue an NPC turn where it stopped."""
        scene, _ = await self._turn_for(actor, turn_id)
        self.access.cooldown(actor, "swipe")
        session = self.sessions.get(scene.channel_id)
        async with session.lock:
            scene, turn = await self._turn_for(actor, turn_id)
            view = await self.views.view(scene)
            async with self.publisher.poster.typing(scene.channel_id):
                with session.cancellable() as cancel:
                    longer = await _user_facing(self.director.extend(view, turn, cancel=cancel))
            await self.publisher.repost(scene, session, longer)
        return Reply(f"{longer.speaker} went on.")

    async def delete(self, actor: Actor, turn_id: int) -> Reply:
        """Remove an NPC turn from the channel and the history, stopping a running round."""
        scene, turn = await self._turn_for(actor, turn_id)
        session = self.sessions.get(scene.channel_id)
        session.halt()
        async with session.lock:
            await self.turns.mark_deleted(turn.id)
            await self.publisher.poster.delete_messages(scene.channel_id, turn.message_ids)
            if session.controls_message_id in turn.message_ids:
                session.controls_message_id = None
        return Reply(f"Deleted {turn.speaker}'s turn.")


async def _user_facing(work: Awaitable[StoredTurn]) -> Turn:
    try:
        return cast(Turn, await work)
    except DirectorError as exc:
        raise UserError(str(exc)) from None
