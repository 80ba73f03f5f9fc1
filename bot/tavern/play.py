"""The channel loop: player messages in, NPC rounds out, and the buttons under them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import cast

from bot.director.director import DirectorError, RoundHooks, StoredTurn, TurnDirector
from bot.director.scheduler import RoundScheduler, Trigger
from bot.engine.base import EngineError
from bot.prompts import is_ooc
from bot.scenes.service import SceneViews, Stores
from bot.store import Character, NotFoundError, Scene, Turn
from bot.tavern.access import Access
from bot.tavern.common import Actor, IncomingMessage, Poster, Reply, UserError
from bot.tavern.text import mentioned_name

log = logging.getLogger(__name__)
RECENT_NPC_WINDOW = 32


class PlayService:
    """Turns channel messages into turns and runs one NPC round at a time per channel."""

    def __init__(
        self,
        stores: Stores,
        views: SceneViews,
        director: TurnDirector,
        access: Access,
        poster: Poster,
        *,
        quiet_seconds: float,
    ) -> None:
        self.stores = stores
        self.characters = stores.characters
        self.scenes = stores.scenes
        self.turns = stores.turns
        self.views = views
        self.director = director
        self.access = access
        self.poster = poster
        self.quiet_seconds = quiet_seconds
        self.scheduler = RoundScheduler(self._run_round)
        self._controls: dict[int, int] = {}  # channel id -> message id that carries the buttons
        # Channels where a human (not a bot, not a webhook) wrote since the last round. Proxy
        # webhooks (PluralKit) only trigger rounds after a human message, so two bots can never
        # keep each other talking.
        self._human_spoke: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}

    # -- messages -----------------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        """Store a player's message as a turn and schedule a round as the reply mode says."""
        if message.webhook_id is not None and self.poster.owns_webhook(message.webhook_id):
            return
        if message.author_is_bot and message.webhook_id is None:
            return
        content = message.content.strip()
        if not content:
            return
        scene = await self.scenes.by_channel(message.channel_id)
        if scene is None or await self.turns.by_message_id(message.message_id) is not None:
            return
        speaker, character_id, author_id = await self._speaker(scene, message)
        await self.turns.append(
            scene.id,
            role="user",
            speaker=speaker,
            content=content,
            character_id=character_id,
            author_id=author_id,
            message_ids=[message.message_id],
        )
        if message.webhook_id is None:
            self._human_spoke.add(scene.channel_id)
        elif scene.channel_id not in self._human_spoke:
            return
        if is_ooc(content) or scene.reply_mode == "manual":
            return
        cast = await self.scenes.cast(scene.id)
        named = mentioned_name(content, [c.name for c in cast])
        if scene.reply_mode == "mention" and named is None:
            return
        delay = 0.0 if named else self.quiet_seconds
        self.scheduler.trigger(str(scene.channel_id), Trigger(forced=named, delay=delay))

    async def _speaker(
        self, scene: Scene, message: IncomingMessage
    ) -> tuple[str, int | None, int | None]:
        """Bound character, else default character (then bound), else the display name."""
        if message.webhook_id is not None:  # PluralKit/Tupperbox proxies post under the name
            return message.author_name, None, None
        bound = await self.scenes.bound_character(scene.id, message.author_id)
        if bound is None:
            bound = await self.scenes.default_character(message.guild_id, message.author_id)
            if bound is not None:
                await self.scenes.bind_player(scene.id, message.author_id, bound.id)
        if bound is not None:
            return bound.name, bound.id, message.author_id
        return message.author_name, None, message.author_id

    async def on_edit(self, message_id: int, content: str) -> None:
        """A player edited a message: update its turn."""
        turn = await self.turns.by_message_id(message_id)
        if turn is not None and turn.role == "user" and content.strip():
            await self.turns.edit(turn.id, content.strip())

    async def on_delete(self, message_ids: Sequence[int]) -> None:
        """Messages were deleted: a turn leaves the history when none of its messages is left."""
        for message_id in message_ids:
            turn = await self.turns.by_message_id(message_id)
            if turn is None or turn.deleted:
                continue
            # A swipe that shortens a turn deletes its extra parts; the turn itself stays.
            remaining = [i for i in turn.message_ids if i != message_id]
            if remaining:
                await self.turns.set_message_ids(turn.id, remaining)
            else:
                await self.turns.mark_deleted(turn.id)

    def channel_lock(self, channel_id: int) -> asyncio.Lock:
        """Held by a round, a swipe, a continue or a clear: one change per channel at a time."""
        return self._locks.setdefault(channel_id, asyncio.Lock())

    # -- commands and buttons -----------------------------------------------------------------

    async def reply(self, actor: Actor, as_name: str | None) -> Reply:
        """`/reply [as]`: run a round now."""
        scene = await self.access.require_scene(actor)
        await self.access.require_participant(actor, scene)
        if as_name is not None and not any(
            c.name.casefold() == as_name.casefold() for c in await self.scenes.cast(scene.id)
        ):
            raise UserError(f"{as_name} is not in this scene's cast.")
        self.access.cooldown(actor, "reply")
        self.scheduler.trigger(str(scene.channel_id), Trigger(as_name))
        who = as_name or "The NPCs"
        return Reply(f"{who} will answer shortly.")

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
        scene, turn = await self._turn_for(actor, turn_id)
        self.access.cooldown(actor, "swipe")
        async with self.channel_lock(scene.channel_id):
            scene, turn = await self._turn_for(actor, turn_id)  # the round may have changed it
            view = await self.views.view(scene)
            async with self.poster.typing(scene.channel_id):
                new = await self._guarded(self.director.swipe(view, turn))
            await self._repost(scene, new)
        total = len(new.swipes)
        return Reply(f"Swiped {new.speaker}'s turn ({total} versions kept).")

    async def extend(self, actor: Actor, turn_id: int) -> Reply:
        """Continue an NPC turn where it stopped."""
        scene, turn = await self._turn_for(actor, turn_id)
        self.access.cooldown(actor, "swipe")
        async with self.channel_lock(scene.channel_id):
            scene, turn = await self._turn_for(actor, turn_id)
            view = await self.views.view(scene)
            async with self.poster.typing(scene.channel_id):
                longer = await self._guarded(self.director.extend(view, turn))
            await self._repost(scene, longer)
        return Reply(f"{longer.speaker} went on.")

    async def delete_turn(self, actor: Actor, turn_id: int) -> Reply:
        """Remove an NPC turn from the channel and the history."""
        scene, turn = await self._turn_for(actor, turn_id)
        async with self.channel_lock(scene.channel_id):
            await self.turns.mark_deleted(turn.id)
            await self.poster.delete_messages(scene.channel_id, turn.message_ids)
            self._controls.pop(scene.channel_id, None)
        return Reply(f"Deleted {turn.speaker}'s turn.")

    async def _guarded(self, work: Awaitable[StoredTurn]) -> Turn:
        try:
            return cast(Turn, await work)
        except DirectorError as exc:
            raise UserError(str(exc)) from None
        except EngineError:
            log.exception("generation failed")
            raise UserError("The model failed to generate; the log has details.") from None

    async def _repost(self, scene: Scene, turn: Turn) -> None:
        avatar = await self._avatar(turn)
        ids = await self.poster.edit_turn(
            scene.channel_id, turn.message_ids, turn.speaker, avatar, turn.content
        )
        if list(ids) != list(turn.message_ids):
            await self.turns.set_message_ids(turn.id, ids)
        await self._move_controls(scene.channel_id, ids[-1], turn.id)

    # -- rounds -------------------------------------------------------------------------------

    async def post_turn(self, scene: Scene, turn: StoredTurn) -> list[int]:
        """Post a stored NPC turn as its character and remember the message ids."""
        ids = await self.poster.post_turn(
            scene.channel_id, turn.speaker, await self._avatar(turn), turn.content
        )
        await self.turns.set_message_ids(turn.id, ids)
        return ids

    async def post_greeting(self, scene: Scene, npc: Character) -> None:
        """An NPC joining with a greeting says it, as a stored turn."""
        if not npc.greeting:
            return
        turn = await self.turns.append(
            scene.id, role="model", speaker=npc.name, content=npc.greeting, character_id=npc.id
        )
        await self.post_turn(scene, turn)

    async def _avatar(self, turn: StoredTurn) -> str | None:
        character_id = cast(Turn, turn).character_id
        if character_id is None:
            return None
        try:
            return (await self.characters.get(character_id)).avatar_url
        except NotFoundError:
            return None

    async def _run_round(self, key: str, trigger: Trigger) -> None:
        async with self.channel_lock(int(key)):
            await self._round(int(key), trigger)

    async def _round(self, channel_id: int, trigger: Trigger) -> None:
        scene = await self.scenes.by_channel(channel_id)
        if scene is None:
            return
        self._human_spoke.discard(channel_id)
        view = await self.views.view(scene)
        posted: list[tuple[int, int]] = []

        async def stored(turn: StoredTurn) -> None:
            try:
                ids = await self.post_turn(scene, turn)
            except BaseException:
                # A turn nobody could see must not stay in the history the model reads.
                await self.turns.mark_deleted(turn.id)
                raise
            posted.append((ids[-1], turn.id))

        try:
            async with self.poster.typing(channel_id):
                result = await self.director.run_round(
                    view, forced=trigger.forced, hooks=RoundHooks(stored=stored)
                )
        except DirectorError as exc:
            await self.poster.notice(channel_id, str(exc))
            return
        except Exception:
            log.exception("round failed in channel %s", channel_id)
            await self.poster.notice(channel_id, "The NPCs could not answer; the log has details.")
            return
        finally:
            if posted:
                await self._move_controls(channel_id, *posted[-1])
        if result.notice and result.ended != "players":
            await self.poster.notice(channel_id, result.notice)

    async def _move_controls(self, channel_id: int, message_id: int, turn_id: int) -> None:
        """Buttons live on the newest NPC message only."""
        previous = self._controls.get(channel_id) or await self._last_npc_message(turn_id)
        if previous is not None and previous != message_id:
            try:
                await self.poster.set_controls(channel_id, previous, None)
            except Exception:  # the old message may be gone; losing its buttons is harmless
                log.debug("could not clear buttons on %s", previous, exc_info=True)
        await self.poster.set_controls(channel_id, message_id, turn_id)
        self._controls[channel_id] = message_id

    async def _last_npc_message(self, turn_id: int) -> int | None:
        """After a restart: the newest earlier NPC message, which may still carry buttons."""
        scene_id = (await self.turns.get(turn_id)).scene_id
        for turn in reversed(await self.turns.window(scene_id, RECENT_NPC_WINDOW)):
            if turn.role == "model" and turn.id != turn_id and turn.message_ids:
                return turn.message_ids[-1]
        return None

    async def close(self) -> None:
        await self.scheduler.close()
