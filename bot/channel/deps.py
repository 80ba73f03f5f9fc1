"""The parts every channel service shares, built once per front end by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.channel.access import Access
from bot.channel.health import WriteGate
from bot.channel.intake import PlayService
from bot.channel.ports import NoMechanics, Poster, TurnMechanics
from bot.channel.publisher import TurnPublisher
from bot.channel.rounds import NpcRounds
from bot.channel.sessions import ChannelSessions
from bot.channel.table import TableRounds
from bot.director import TurnDirector
from bot.memory import Summarizer
from bot.scenes.views import SceneViews
from bot.settings import Settings
from bot.store import Stores


@dataclass(frozen=True)
class ChannelDeps:
    """What every channel service is built from: made once, shared by all of them."""

    settings: Settings
    stores: Stores
    views: SceneViews
    director: TurnDirector
    summarizer: Summarizer
    poster: Poster
    access: Access
    sessions: ChannelSessions
    publisher: TurnPublisher
    play: PlayService
    gate: WriteGate
    mechanics: TurnMechanics
    table: TableRounds


# A feature's entry point: its service, built over the shared parts (it may register hooks).
Feature = Callable[[ChannelDeps], object]


def channel_deps(
    settings: Settings,
    stores: Stores,
    views: SceneViews,
    director: TurnDirector,
    summarizer: Summarizer,
    poster: Poster,
    mechanics: TurnMechanics | None = None,
) -> ChannelDeps:
    """The shared parts of one front end: sessions, rounds, publishing, intake, the write gate."""
    access = Access(stores.scenes, stores.turns, settings.reply_cooldown_seconds)
    gate = WriteGate(poster, stores.turns.db.probe_writes)
    publisher = TurnPublisher(stores, poster, settings.narrator_avatar)
    mechanics = mechanics or NoMechanics()
    rounds = NpcRounds(
        stores, views, director, publisher, gate, mechanics, may_pass=settings.npcs_may_pass
    )
    sessions = ChannelSessions(
        rounds.run, limit=settings.channel_sessions, chores_wait=gate.holds_rounds
    )
    table = TableRounds(stores.scenes, sessions, settings.round_timeout)
    play = PlayService(
        stores,
        access,
        sessions,
        poster,
        gate,
        table,
        quiet_seconds=settings.quiet_seconds,
        dice_bots=settings.dice_bots,
    )
    return ChannelDeps(
        settings,
        stores,
        views,
        director,
        summarizer,
        poster,
        access,
        sessions,
        publisher,
        play,
        gate,
        mechanics,
        table,
    )
