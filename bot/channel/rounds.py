"""One NPC round in a channel: the director's turns, posted as they are stored."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.channel.health import WriteGate
from bot.channel.ports import TurnMechanics
from bot.channel.publisher import TurnPublisher
from bot.channel.sessions import ChannelSession, Trigger
from bot.director import DirectorError, GeneratedTurn, RoundHooks, StoredTurn, TurnDirector
from bot.domain import CancelToken
from bot.scenes.views import SceneViews
from bot.store import Stores

log = logging.getLogger(__name__)


class NpcRounds:
    """Runs a round for a channel session; the session registry decides when."""

    def __init__(
        self,
        stores: Stores,
        views: SceneViews,
        director: TurnDirector,
        publisher: TurnPublisher,
        gate: WriteGate,
        mechanics: TurnMechanics,
    ) -> None:
        self.stores = stores
        self.views = views
        self.director = director
        self.publisher = publisher
        self.poster = publisher.poster
        self.gate = gate
        self.mechanics = mechanics

    async def run(self, session: ChannelSession, cancel: CancelToken, trigger: Trigger) -> None:
        """Generate, store and post up to the scene's cap of NPC turns (lock held by the caller).

        While the database refuses writes the round waits (the gate runs it once it is back).
        """
        channel_id = session.channel_id
        if await self.gate.refuse_round(channel_id, trigger):
            return
        try:
            await self._round(session, cancel, trigger)
        except DirectorError as exc:
            if not cancel.cancelled:
                await self.poster.notice(channel_id, str(exc))
        except Exception as exc:
            # A turn whose store failed was withdrawn by the publisher, or stays pending for
            # the recovery to withdraw: the history never holds half a round's turn.
            if await self.gate.refused(channel_id, exc):
                await self.gate.refuse_round(channel_id, trigger)
                return
            log.exception("round failed in channel %s", channel_id)
            await self.poster.notice(channel_id, "The NPCs could not answer; the log has details.")

    async def _round(self, session: ChannelSession, cancel: CancelToken, trigger: Trigger) -> None:
        channel_id = session.channel_id
        scene = await self.stores.scenes.by_channel(channel_id)
        # Read under the channel lock that /scene pause holds while it pauses: every round
        # (a post's, /reply's, a read-back's) stops here while the GM holds the NPCs back.
        if scene is None or scene.paused:
            return
        session.human_spoke = False
        view = await self.views.view(scene)
        if view.mechanics:
            view = replace(view, resolver=await self.mechanics.resolver(scene.id))
        posted: list[tuple[int, int]] = []

        async def generated(turn: GeneratedTurn) -> None:
            # Stored with the turn while it is pending: they count once it is posted.
            try:
                await self.mechanics.record(scene.id, turn)
            except BaseException:
                await self.publisher.withdraw(channel_id, turn.turn.id, ())
                raise

        async def stored(turn: StoredTurn) -> None:
            if cancel.cancelled:  # halted between storing and posting: nobody will see it
                await self.publisher.withdraw(channel_id, turn.id, ())
                return
            ids = await self.publisher.post(scene, turn)  # withdraws the turn if it fails
            posted.append((ids[-1], turn.id))

        try:
            async with self.poster.typing(channel_id):
                result = await self.director.run_round(
                    view,
                    forced=trigger.forced,
                    hooks=RoundHooks(stored=stored, generated=generated),
                    cancel=cancel,
                )
        finally:
            if posted and not cancel.cancelled:
                await self.publisher.move_controls(session, *posted[-1])
        if result.notice and result.ended not in ("players", "cancelled"):
            await self.poster.notice(channel_id, result.notice)
