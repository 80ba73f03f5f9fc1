"""The composition root: settings → engine → stores → services. Nothing here imports it back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from bot.characters.limits import CardLimits, RosterLimits
from bot.director import TurnDirector
from bot.director.budget import TokenCounter
from bot.domain import Sampler
from bot.engine.base import TextEngine
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.offload import resolve_gpu_layers
from bot.engine.remote import RemoteOptions, connect_remote
from bot.lore import LoreConfig, LoreLimits
from bot.memory import Summarizer, SummaryConfig
from bot.scenes.lore import SceneLoreSources
from bot.scenes.views import SceneViews
from bot.settings import Settings
from bot.store import Database, Stores, upgrade
from bot.tavern.access import Access
from bot.tavern.authored import AuthoredPosts
from bot.tavern.characters import CharacterCommands
from bot.tavern.common import Poster
from bot.tavern.config import ConfigCommands
from bot.tavern.lore import LoreCommands
from bot.tavern.memory import MemoryCommands
from bot.tavern.play import PlayService
from bot.tavern.publisher import TurnPublisher
from bot.tavern.recovery import Recovery
from bot.tavern.rounds import NpcRounds
from bot.tavern.scenes import SceneCommands
from bot.tavern.services import TavernServices
from bot.tavern.sessions import ChannelSessions
from bot.tavern.turn_actions import TurnActions

log = logging.getLogger("tavernkeep")
EngineMode = Literal["full", "vocab"]


def sampler_from(settings: Settings) -> Sampler:
    """The sampler defaults from the settings."""
    return Sampler(
        temperature=settings.temperature,
        min_p=settings.min_p,
        top_p=settings.top_p,
        repeat_penalty=settings.repeat_penalty,
        max_tokens=settings.max_new_tokens,
        seed=settings.seed,
    )


def llama_options(settings: Settings, mode: EngineMode = "full") -> LlamaOptions:
    """What the in-process engine is built with; `vocab` loads only the tokenizer."""
    model_path = settings.resolved_model_path()
    gpu_layers = 0
    if mode == "full":
        decision = resolve_gpu_layers(
            settings.n_gpu_layers,
            model_path=model_path,
            n_ctx=settings.n_ctx,
            kv_cache_type=settings.kv_cache_type,
        )
        log.info("GPU offload: %s", decision.reason)
        gpu_layers = decision.n_gpu_layers
    return LlamaOptions(
        model_path=model_path,
        n_ctx=settings.n_ctx,
        n_gpu_layers=gpu_layers,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        flash_attn=settings.flash_attn,
        kv_cache_type=settings.kv_cache_type,
        kv_cache_mb=settings.kv_cache_mb,
        seed=settings.seed,
        vocab_only=mode == "vocab",
    )


def remote_options(settings: Settings) -> RemoteOptions:
    """How to reach the configured inference server (`BACKEND` other than `llama-cpp`)."""
    assert settings.backend_url is not None  # the settings refuse a remote backend without one
    key = settings.backend_api_key
    return RemoteOptions(
        backend=settings.backend,
        url=settings.backend_url,
        api_key=key.get_secret_value() if key is not None else None,
        model=settings.backend_model,
        parallel=settings.backend_parallel,
        tokenizer_path=settings.tokenizer_path,
        timeout=settings.backend_timeout_seconds,
        n_ctx=settings.n_ctx_override(),
        default_n_ctx=settings.n_ctx,
    )


async def open_engine(settings: Settings, mode: EngineMode = "full") -> TextEngine:
    """The in-process model, or a connection to the configured inference server."""
    if settings.remote:
        return await connect_remote(remote_options(settings))
    return await LlamaEngine.load(llama_options(settings, mode))


def card_limits(settings: Settings) -> CardLimits:
    """What one imported card may carry."""
    return CardLimits(
        json_max_bytes=settings.card_json_max_bytes,
        greeting_max_chars=settings.greeting_max_chars,
        lore_entry_max_chars=settings.lore_entry_max_chars,
        lore_max_entries=settings.lore_max_entries,
    )


def lore_config(settings: Settings) -> LoreConfig:
    """How lorebooks are scanned, where a book or entry does not say."""
    return LoreConfig(
        scan_depth=settings.lore_scan_depth,
        sticky=settings.lore_sticky,
        max_recursion=settings.lore_max_recursion,
        budget=settings.lore_budget,
    )


def lore_limits(settings: Settings) -> LoreLimits:
    """What one lorebook may hold."""
    return LoreLimits(
        max_entries=settings.lore_max_entries, entry_max_chars=settings.lore_entry_max_chars
    )


def roster_limits(settings: Settings) -> RosterLimits:
    """How many characters a player, and NPCs a server, may have."""
    return RosterLimits(
        characters_per_player=settings.max_characters_per_player,
        npcs_per_server=settings.max_npcs_per_server,
    )


@dataclass
class Core:
    """Everything below the Discord layer, built once from the settings."""

    settings: Settings
    db: Database
    stores: Stores
    engine: TextEngine
    director: TurnDirector
    views: SceneViews

    def services(self, poster: Poster) -> TavernServices:
        """The channel services over these parts, posting through `poster`."""
        settings, stores = self.settings, self.stores
        access = Access(stores.scenes, stores.turns, settings.reply_cooldown_seconds)
        publisher = TurnPublisher(stores, poster, settings.narrator_avatar)
        rounds = NpcRounds(stores, self.views, self.director, publisher)
        memory = MemoryCommands(stores, self.views, access, self.summarizer())
        sessions = ChannelSessions(
            rounds.run, after=memory.after_round, limit=settings.channel_sessions
        )
        play = PlayService(stores, access, sessions, poster, quiet_seconds=settings.quiet_seconds)
        return TavernServices(
            sessions=sessions,
            play=play,
            recovery=Recovery(stores, play, sessions, publisher),
            turns=TurnActions(stores, self.views, self.director, access, sessions, publisher),
            characters=CharacterCommands(
                stores.characters,
                stores.scenes,
                access,
                card_limits=card_limits(settings),
                roster_limits=roster_limits(settings),
            ),
            scenes=SceneCommands(
                stores,
                self.views,
                self.director,
                access,
                sessions,
                publisher,
                default_format=settings.default_format,
            ),
            config=ConfigCommands(stores.scenes),
            authored=AuthoredPosts(
                stores,
                self.views,
                self.director,
                access,
                sessions,
                publisher,
                play,
                narrator_name=settings.narrator_name,
            ),
            lore=LoreCommands(stores.lore, stores.scenes, access, lore_limits(settings)),
            memory=memory,
        )

    def summarizer(self) -> Summarizer:
        """The story-so-far summariser over this engine and director."""
        config = SummaryConfig(
            min_turns=self.settings.summary_min_turns, max_tokens=self.settings.summary_max_tokens
        )
        return Summarizer(
            self.engine, self.director, self.stores.turns, self.stores.summaries, config
        )

    async def close(self) -> None:
        await self.engine.close()
        await self.db.dispose()


async def open_core(
    settings: Settings, mode: EngineMode = "full", *, engine: TextEngine | None = None
) -> Core:
    """Migrate the database, load or connect the engine (unless given one), build the rest."""
    await upgrade(settings.database_url)
    db = Database(settings.database_url, busy_timeout=settings.db_busy_timeout)
    stores = Stores.over(db)
    if engine is None:
        try:
            engine = await open_engine(settings, mode)
        except BaseException:
            await db.dispose()
            raise
    director = TurnDirector(engine, stores.turns, counter=TokenCounter(engine.count_many))
    lore = SceneLoreSources(stores, lore_config(settings), lore_limits(settings))
    views = SceneViews(stores, sampler_from(settings), lore)
    return Core(settings, db, stores, engine, director, views)
