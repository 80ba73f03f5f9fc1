"""`/roll`: a player's roll, posted under their character and stored as a turn the NPCs answer."""

from __future__ import annotations

from bot.channel.addressing import Post
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.dice import roll_dice, roll_line
from bot.dice.limits import REASON_MAX_CHARS
from bot.domain import DiceRoll
from bot.errors import UserError
from bot.store import Scene, Stores, Turn


class DiceCommands:
    """Rolls dice with the operating system's randomness; the model never picks a number."""

    def __init__(self, deps: ChannelDeps) -> None:
        self.stores: Stores = deps.stores
        self.access = deps.access
        self.play = deps.play
        self.publisher = deps.publisher
        self.sessions = deps.sessions

    async def roll(
        self, actor: Actor, expr: str, reason: str | None = None, private: bool = False
    ) -> Reply:
        """Roll `expr` for the caller's character: posted and witnessed, or private."""
        scene = await self.access.require_scene(actor)
        reason = _reason(reason)
        rolled = roll_dice(expr, reason=reason)  # refused before the scene hears of it
        speaker, character_id = await self._roller(scene, actor)
        line = roll_line(speaker, rolled)
        if private:
            await self._store(scene, actor, speaker, character_id, line, rolled, private=True)
            return Reply(f"{line}\n-# Private: only you and the GMs see this roll.")
        turn = await self._store(scene, actor, speaker, character_id, line, rolled, pending=True)
        await self.publisher.post(scene, turn)
        rolled_post = Post(line, speaker, actor.user_id)  # a roll is acting (table mode counts it)
        trigger = await self.play.trigger_for(scene, rolled_post, human=True)
        if trigger is not None:
            self.sessions.trigger(scene.channel_id, trigger)
        return Reply(f"Rolled: {rolled.total}.")

    async def _roller(self, scene: Scene, actor: Actor) -> tuple[str, int | None]:
        """The caller's character in the scene, else their display name under the name rule."""
        character = await self.play.character_of(scene, actor.user_id)
        if character is not None:
            return character.name, character.id
        return await self.play.speaker_for(actor.guild_id, actor.display_name), None

    async def _store(
        self,
        scene: Scene,
        actor: Actor,
        speaker: str,
        character_id: int | None,
        line: str,
        rolled: DiceRoll,
        *,
        private: bool = False,
        pending: bool = False,
    ) -> Turn:
        return await self.stores.turns.append(
            scene.id,
            role="user",
            speaker=speaker,
            content=line,
            character_id=character_id,
            author_id=actor.user_id,
            pending=pending,
            kind="roll",
            private=private,
            rolls=[rolled],
        )


def _reason(reason: str | None) -> str | None:
    cleaned = " ".join((reason or "").split())
    if len(cleaned) > REASON_MAX_CHARS:
        raise UserError(f"The reason is limited to {REASON_MAX_CHARS} characters.")
    return cleaned or None


def build(deps: ChannelDeps) -> DiceCommands:
    """The dice feature over the shared channel parts."""
    return DiceCommands(deps)
