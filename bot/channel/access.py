"""Who may do what: GM checks, scene membership and per-user cooldowns."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bot.channel.ports import Actor
from bot.errors import UserError
from bot.prompts import is_ooc
from bot.store import Scene, SceneStore, Turn, TurnStore

RECENT_AUTHORS_WINDOW = 100


class Access:
    """Permission checks backed by the guild's configured GM role."""

    def __init__(
        self,
        scenes: SceneStore,
        turns: TurnStore,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenes = scenes
        self.turns = turns
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        # Oldest use first: entries past the cooldown are dropped from the front on every use,
        # so the map holds only the uses of the last `cooldown_seconds`.
        self._last_use: OrderedDict[tuple[str, int], float] = OrderedDict()

    async def is_gm(self, actor: Actor) -> bool:
        """Manage Server, or the guild's GM role."""
        if actor.manage_guild:
            return True
        role = await self.scenes.gm_role(actor.guild_id)
        return role is not None and role in actor.role_ids

    async def require_gm(self, actor: Actor) -> None:
        if not await self.is_gm(actor):
            raise UserError("Only a GM can do that (Manage Server or the GM role).")

    async def require_scene(self, actor: Actor) -> Scene:
        """The active scene of the actor's channel, or a clear error."""
        scene = await self.scenes.by_channel(actor.channel_id)
        if scene is None:
            raise UserError(
                "There is no scene in this channel. A GM can start one with /scene start."
            )
        return scene

    @staticmethod
    def require_own_channel(actor: Actor, scene: Scene) -> None:
        """A button acts only where its scene plays (a forwarded or replayed one does nothing)."""
        if scene.channel_id != actor.channel_id:
            raise UserError("That button belongs to another channel.")

    async def require_player(self, actor: Actor, scene: Scene) -> None:
        """GMs, and the scene's players: a character bound here, or in character here lately.

        Out-of-character asides make nobody a player, so a passer-by who only said
        "(( nice scene ))" cannot swipe, continue or delete the table's turns.
        """
        if await self.is_gm(actor):
            return
        if await self.scenes.bound_character(scene.id, actor.user_id) is not None:
            return
        recent = await self.turns.window(scene.id, RECENT_AUTHORS_WINDOW)
        if any(_played(turn, actor.user_id) for turn in recent):
            return
        raise UserError("Only this scene's players and GMs can do that.")

    def cooldown(self, actor: Actor, action: str) -> None:
        """Refuse an action repeated faster than the cooldown allows."""
        key = (action, actor.user_id)
        now = self._clock()
        self._forget_before(now - self.cooldown_seconds)
        last = self._last_use.get(key)
        if last is not None:
            wait = self.cooldown_seconds - (now - last)
            raise UserError(f"Slow down: try again in {max(wait, 1):.0f}s.")
        self._last_use[key] = now

    def _forget_before(self, cutoff: float) -> None:
        while self._last_use:
            key, used = next(iter(self._last_use.items()))
            if used > cutoff:
                return
            del self._last_use[key]

    def tracked(self) -> int:
        """How many recent uses the cooldown remembers."""
        return len(self._last_use)


def _played(turn: Turn, user_id: int) -> bool:
    """An in-character post of `user_id` (as a character, or under their own name)."""
    return turn.author_id == user_id and turn.role == "user" and not is_ooc(turn.content)
