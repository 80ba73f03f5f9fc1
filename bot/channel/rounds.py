"""One NPC round in a channel: the director's turns, posted as they are stored."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from bot.channel.health import WriteGate
from bot.channel.ports import LivePoster, TurnMechanics
from bot.channel.publisher import TurnPublisher
from bot.channel.sessions import ChannelSession, Passed, Trigger
from bot.channel.streaming import LiveTurn, TurnStreams
from bot.director import (
    DirectorError,
    GeneratedTurn,
    RoundHooks,
    RoundResult,
    SceneView,
    StoredTurn,
    TurnDirector,
)
from bot.domain import CancelToken
from bot.scenes.views import SceneViews
from bot.store import Scene, Stores

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
        streams: TurnStreams | None = None,
        *,
        may_pass: bool = True,
    ) -> None:
        self.stores = stores
        self.may_pass = may_pass  # NPCS_MAY_PASS: off, every round answers
        self.views = views
        self.director = director
        self.publisher = publisher
        self.poster = publisher.poster
        self.gate = gate
        self.mechanics = mechanics
        # Turns are shown as they are written where the poster can (and is set to) do it.
        poster = self.poster
        if streams is None and isinstance(poster, LivePoster):
            streams = TurnStreams(stores, publisher, poster)
        self.streams = streams

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
        session.new_round()
        view = await self.views.view(scene)
        if view.mechanics:
            view = replace(view, resolver=await self.mechanics.resolver(scene.id))
        posted: list[tuple[int, int]] = []
        streams = self.streams
        live = _Live(streams, scene, view) if streams is not None and streams.poster.live else None

        async def generated(turn: GeneratedTurn) -> None:
            # Stored with the turn while it is pending: they count once it is posted.
            try:
                await self.mechanics.record(scene.id, turn)
            except BaseException:
                await self.publisher.withdraw(channel_id, turn.turn.id, ())
                raise

        async def stored(turn: StoredTurn) -> None:
            shown = live.take() if live is not None else None
            if cancel.cancelled:  # halted between storing and posting: nobody will see it
                if shown is not None:
                    await shown.abort()
                await self.publisher.withdraw(channel_id, turn.id, ())
                return
            # Either way a turn that could not be shown whole is withdrawn.
            if shown is not None:
                ids = await shown.finish(turn)
            else:
                ids = await self.publisher.post(scene, turn)
            if ids:
                posted.append((ids[-1], turn.id))

        hooks = RoundHooks(stored=stored, generated=generated)
        if live is not None:
            hooks.speaker, hooks.text = live.speaker, live.feed
        try:
            async with self.poster.typing(channel_id):
                try:
                    result = await self.director.run_round(
                        view,
                        forced=trigger.forced or None,
                        # Only a post nobody addressed may go unanswered (see `Trigger`), and
                        # only at a table of players who could be talking among themselves: a
                        # lone player's post is for the NPCs.
                        may_pass=self.may_pass and trigger.may_pass and _players_here(view) >= 2,
                        hooks=hooks,
                        cancel=cancel,
                    )
                finally:
                    if live is not None:  # a turn begun, never stored (stopped, empty, failed)
                        await live.drop()
        finally:
            if posted and not cancel.cancelled:
                await self.publisher.move_controls(session, *posted[-1])
        await self._remember(session, scene, result)
        if result.notice and result.ended not in ("players", "cancelled", "passed"):
            await self.poster.notice(channel_id, result.notice)

    async def _remember(self, session: ChannelSession, scene: Scene, result: RoundResult) -> None:
        """Keep a round the model passed for `/scene status`: a quiet table is no mystery."""
        if result.ended == "passed":
            last = await self.stores.turns.last(scene.id)
            after = last.speaker if last is not None else None
            session.passed = Passed(datetime.now(UTC), after)
            log.info("the NPCs passed in channel %s (after %s's post)", session.channel_id, after)
        elif result.turns:
            session.passed = None


class _Live:
    """The round's turn being written, from the speaker's name to its storing."""

    def __init__(self, streams: TurnStreams, scene: Scene, view: SceneView) -> None:
        self.streams, self.scene, self.view = streams, scene, view
        self.names = (*view.player_names, *(member.name for member in view.npcs))
        self.turn: LiveTurn | None = None

    async def speaker(self, name: str) -> None:
        """The director chose the next speaker: their text starts now."""
        await self.drop()
        member = self.view.npc(name)
        others = [other for other in self.names if other != name]
        character_id = member.character_id if member is not None else None
        self.turn = self.streams.start(self.scene, name, character_id, others)

    def feed(self, piece: str) -> None:
        if self.turn is not None:
            self.turn.feed(piece)

    def take(self) -> LiveTurn | None:
        """The turn just stored: the round hands it its stored text."""
        turn, self.turn = self.turn, None
        return turn

    async def drop(self) -> None:
        """Take down a turn that was begun and will not be stored."""
        turn, self.turn = self.turn, None
        if turn is not None:
            await turn.abort()


def _players_here(view: SceneView) -> int:
    """The player characters present in the scene now."""
    return sum(1 for player in view.context.players if player.present)
