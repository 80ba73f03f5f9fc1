"""Wiring the Discord-facing services together (plain Python, so tests can build them too)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.director.director import TurnDirector
from bot.scenes.service import SceneViews, Stores
from bot.settings import Settings
from bot.tavern.access import Access
from bot.tavern.characters import CharacterCommands
from bot.tavern.common import Poster
from bot.tavern.play import PlayService
from bot.tavern.scenes import SceneCommands


@dataclass(frozen=True)
class Tavern:
    """The services the cogs, buttons and events call."""

    access: Access
    play: PlayService
    characters: CharacterCommands
    scenes: SceneCommands


def build_tavern(
    settings: Settings,
    stores: Stores,
    views: SceneViews,
    director: TurnDirector,
    poster: Poster,
) -> Tavern:
    """Compose the services over the core parts and a poster."""
    access = Access(stores.scenes, stores.turns, settings.reply_cooldown_seconds)
    play = PlayService(
        stores, views, director, access, poster, quiet_seconds=settings.quiet_seconds
    )
    return Tavern(
        access=access,
        play=play,
        characters=CharacterCommands(stores.characters, stores.scenes, access),
        scenes=SceneCommands(play, settings.default_format),
    )
