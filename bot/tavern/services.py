"""The services the Discord adapter calls, as one typed bundle."""

from __future__ import annotations

from dataclasses import dataclass

from bot.tavern.authored import AuthoredPosts
from bot.tavern.characters import CharacterCommands
from bot.tavern.config import ConfigCommands
from bot.tavern.lore import LoreCommands
from bot.tavern.memory import MemoryCommands
from bot.tavern.play import PlayService
from bot.tavern.recovery import Recovery
from bot.tavern.scenes import SceneCommands
from bot.tavern.sessions import ChannelSessions
from bot.tavern.turn_actions import TurnActions


@dataclass(frozen=True)
class TavernServices:
    """Everything the cogs, buttons and events call, built by the composition root."""

    sessions: ChannelSessions
    play: PlayService
    recovery: Recovery
    turns: TurnActions
    characters: CharacterCommands
    scenes: SceneCommands
    config: ConfigCommands
    authored: AuthoredPosts
    lore: LoreCommands
    memory: MemoryCommands

    async def close(self) -> None:
        """Stop waiting and running rounds."""
        await self.sessions.close()
