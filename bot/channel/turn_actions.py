"""Swipe, Continue and Delete on an NPC turn."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace
from typing import Literal, Protocol, cast

from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, MessageGone, Recorded, Reply
from bot.channel.sessions import ChannelSession
from bot.director import GeneratedTurn, RoundHooks, SceneView, StoredTurn
from bot.domain import CancelToken
from bot.errors import UserError
from bot.prompts import is_ooc
from bot.store import NotFoundError, Scene, Turn

log = logging.getLogger(__name__)


TurnAction = Literal["swipe", "continue", "delete"]


class Rewrite(Protocol):
    """A director call that rewrites a stored turn (swipe or continue)."""

    def __call__(
        self,
        scene: SceneView,
        turn: StoredTurn,
        *,
        hooks: RoundHooks | None = None,
        cancel: CancelToken | None = None,
    ) -> Awaitable[StoredTurn]: ...


class TurnActions:
    """What the buttons under an NPC turn do."""

    def __init__(self, deps: ChannelDeps) -> None:
        self.scenes = deps.stores.scenes
        self.turns = deps.stores.turns
        self.views = deps.views
        self.director = deps.director
        self.access = deps.access
        self.sessions = deps.sessions
        self.publisher = deps.publisher
        self.mechanics = deps.mechanics

    async def _turn_for(self, actor: Actor, turn_id: int) -> tuple[Scene, Turn]:
        try:
            turn = await self.turns.get(turn_id)
        except NotFoundError:
            raise UserError("That turn no longer exists.") from None
        scene = await self.scenes.get(turn.scene_id)
        self.access.require_own_channel(actor, scene)
        if not scene.active or turn.deleted:
            raise UserError("That turn is no longer part of an active scene.")
        await self.access.require_player(actor, scene)
        return scene, turn

    async def _latest_turn_for(
        self, actor: Actor, turn_id: int, *, gm_reaches_back: bool = False
    ) -> tuple[Scene, Turn]:
        """A turn of the latest round: rewriting one the players have answered would leave
        their answer dangling. With `gm_reaches_back` a GM may take an older one (a Delete, say
        to take back something unkind)."""
        scene, turn = await self._turn_for(actor, turn_id)
        # Out-of-character asides ("(( brb ))") do not answer a turn.
        answered = any(
            not is_ooc(text) for text in await self.turns.posts_after(scene.id, turn.seq)
        )
        if answered and not (gm_reaches_back and await self.access.is_gm(actor)):
            raise UserError(
                "That turn is from an earlier round; only the latest can change"
                + (" (a GM may delete older ones)." if gm_reaches_back else ".")
            )
        return scene, turn

    async def on_message(self, actor: Actor, action: TurnAction, message_id: int) -> Reply:
        """Apps → Swipe / Continue / Delete on any NPC message of the latest round."""
        turn = await self.turns.by_message_id(message_id)
        if turn is None or turn.deleted or turn.pending:
            raise UserError("That message is not part of a scene's history.")
        if turn.role != "model":
            raise UserError("Only NPC turns can be swiped, continued or deleted.")
        return await self.run(actor, action, turn.id)

    async def on_latest(self, actor: Actor, action: TurnAction) -> Reply:
        """The scene's newest turn: swiped or continued if an NPC's, deleted whoever wrote it."""
        scene = await self.access.require_scene(actor)
        last = await self.turns.last(scene.id)
        if last is None:
            raise UserError("This scene has no turns yet.")
        if action != "delete" and last.role != "model":
            raise UserError("The last turn is not an NPC's; only NPC turns can change.")
        return await self.run(actor, action, last.id)

    async def run(self, actor: Actor, action: TurnAction, turn_id: int) -> Reply:
        """Swipe, continue or delete a turn: the one dispatch for buttons, menus and commands."""
        handlers = {"swipe": self.swipe, "continue": self.extend, "delete": self.delete}
        return await handlers[action](actor, turn_id)

    async def swipe(self, actor: Actor, turn_id: int) -> Reply:
        """Regenerate an NPC turn in place, keeping the earlier text as an alternative.

        A greeting with alternatives shows the next of the card's greetings instead.
        """
        new = await self._rewrite(actor, turn_id, self._swipe, fresh=True)
        if new.greeting:
            return Reply(f"{new.speaker}'s greeting {new.swipe_index + 1} of {len(new.swipes)}.")
        return Reply(f"Swiped {new.speaker}'s turn ({len(new.swipes)} versions kept).")

    async def _swipe(
        self,
        scene: SceneView,
        turn: StoredTurn,
        *,
        hooks: RoundHooks | None = None,
        cancel: CancelToken | None = None,
    ) -> StoredTurn:
        """A new version from the model, or (no model involved) a greeting's next version."""
        greeting = cast(Turn, turn)
        if not greeting.greeting:
            return await self.director.swipe(scene, turn, hooks=hooks, cancel=cancel)
        following = (greeting.swipe_index + 1) % len(greeting.swipes)
        return await self.turns.select_swipe(greeting.id, following)

    async def extend(self, actor: Actor, turn_id: int) -> Reply:
        """Continue an NPC turn where it stopped."""
        longer = await self._rewrite(actor, turn_id, self.director.extend, fresh=False)
        return Reply(f"{longer.speaker} went on.")

    async def _rewrite(self, actor: Actor, turn_id: int, rewrite: Rewrite, *, fresh: bool) -> Turn:
        """Change a turn's text with the model, one change per channel, and show it in place.

        A `fresh` version (a swipe) rolls its own dice and leaves the turn's earlier changes
        out; a continue keeps them and adds its own.
        """
        scene, _ = await self._latest_turn_for(actor, turn_id)
        self.access.cooldown(actor, "swipe")
        session = self.sessions.get(scene.channel_id)
        async with session.lock:
            scene, turn = await self._latest_turn_for(actor, turn_id)  # a round may have run
            without = turn.id if fresh else None  # a swipe starts from before the turn
            view = await self.views.view(scene, without_turn=without)
            if view.mechanics:
                view = replace(
                    view, resolver=await self.mechanics.resolver(scene.id, without_turn=without)
                )
            recorded: list[Recorded] = []

            async def generated(version: GeneratedTurn) -> None:
                recorded.append(await self.mechanics.record(scene.id, version, fresh=fresh))

            async with self.publisher.poster.typing(scene.channel_id):
                with session.cancellable() as cancel:
                    hooks = RoundHooks(generated=generated)
                    changed = cast(Turn, await rewrite(view, turn, hooks=hooks, cancel=cancel))
            try:
                await self._show(scene, session, turn, changed)
            except BaseException:
                # The turn is back to its old text: what the new one rolled and changed goes too.
                for done in recorded:
                    await self.mechanics.forget(done)
                raise
        return changed

    async def _show(self, scene: Scene, session: ChannelSession, turn: Turn, changed: Turn) -> None:
        """Show the new text in place; when Discord refuses, the turn keeps what it shows."""
        try:
            await self.publisher.repost(scene, session, turn, changed)
        except MessageGone:
            await self.turns.mark_deleted(turn.id)  # deleted in the channel: not brought back
            raise UserError(
                "That turn's message was deleted in the channel, so it has left the history."
            ) from None
        except Exception:
            log.warning("could not show the new text of turn %s", turn.id, exc_info=True)
            raise UserError(
                "Discord did not take the new text, so the turn keeps its old one."
            ) from None

    async def delete(self, actor: Actor, turn_id: int) -> Reply:
        """Remove a turn from the channel, then from the history, stopping a running round."""
        scene, turn = await self._latest_turn_for(actor, turn_id, gm_reaches_back=True)
        session = self.sessions.get(scene.channel_id)
        async with session.halted():
            try:
                await self.publisher.poster.delete_messages(scene.channel_id, turn.message_ids)
            except Exception:
                # The channel and the history never disagree: the turn stays in both.
                log.warning("could not take down turn %s", turn.id, exc_info=True)
                raise UserError(
                    "Discord would not let me remove that message, so the turn stays."
                ) from None
            await self.turns.mark_deleted(turn.id)
            if session.controls_message_id in turn.message_ids:
                session.controls_message_id = None
        return Reply(f"Deleted {turn.speaker}'s turn.")
