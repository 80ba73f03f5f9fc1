"""The composition root: settings → engine → stores → services. Nothing here imports it back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.channel.deps import Feature, channel_deps
from bot.channel.ports import Poster
from bot.channel.services import Services
from bot.characters import service as characters
from bot.characters import voices
from bot.dice import service as dice
from bot.dice.mechanics import SceneMechanics
from bot.director import TurnDirector
from bot.director.budget import TokenCounter
from bot.domain import Sampler
from bot.engine.base import EngineError, TextEngine
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.offload import resolve_gpu_layers
from bot.engine.remote import RemoteOptions, connect_remote
from bot.engine.remote.http import safe_url
from bot.engine.routing import RoutingEngine, named_options
from bot.guild import service as guild
from bot.knowledge import service as knowledge
from bot.lore import LoreConfig
from bot.lore import service as lore
from bot.memory import Summarizer, SummaryConfig
from bot.memory import service as memory
from bot.recall import service as recall
from bot.scenes import service as scenes
from bot.scenes.lore import SceneLoreSources
from bot.scenes.views import SceneViews
from bot.settings import Settings
from bot.state import service as stats
from bot.store import Database, Stores, upgrade

log = logging.getLogger("tavernkeep")
EngineMode = Literal["full", "vocab"]

# Every feature's entry point, in the order they are built: adding a feature is one line here.
FEATURES: tuple[Feature, ...] = (
    characters.build,
    voices.build,
    scenes.build,
    guild.build,
    lore.build,
    memory.build,
    stats.build,
    dice.build,
    knowledge.build,
    recall.build,
)


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
            memory_limit_mb=settings.gpu_memory_limit_mb,
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


async def open_backends(settings: Settings) -> tuple[dict[str, TextEngine], dict[str, str]]:
    """Connect every named backend at once: (the connected ones, why each other one is down).

    One that cannot be reached does not stop the bot: the default engine can voice every NPC,
    so the table plays on (its NPCs in the default engine's voice) and the log names the
    server to look at; `/npc settings` and `doctor` say so too. A restart connects it again.
    """
    names = list(settings.backends)
    tries = [connect_remote(named_options(n, settings.backends[n], settings.n_ctx)) for n in names]
    results = await asyncio.gather(*tries, return_exceptions=True)
    connected: dict[str, TextEngine] = {}
    failed: dict[str, BaseException] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            failed[name] = result
        else:
            connected[name] = result
    bug = next((e for e in failed.values() if not isinstance(e, EngineError)), None)
    if bug is not None:
        for engine in connected.values():
            await engine.close()
        raise bug
    for name, error in failed.items():
        log.warning(
            "Backend %r (%s) cannot be used: %s. Its NPCs speak through the default engine "
            "until the bot restarts with it working.",
            *(name, safe_url(settings.backends[name].url), error),
        )
    for name in connected:
        entry = settings.backends[name]
        log.info("Backend %r: %s at %s", name, entry.backend, safe_url(entry.url))
    return connected, {name: str(error) for name, error in failed.items()}


async def open_engine(settings: Settings, mode: EngineMode = "full") -> TextEngine:
    """The in-process model, or a connection to the configured inference server."""
    if settings.remote:
        return await connect_remote(remote_options(settings))
    return await LlamaEngine.load(llama_options(settings, mode))


def lore_config(settings: Settings) -> LoreConfig:
    """How lorebooks are scanned, where a book or entry does not say."""
    return LoreConfig(
        scan_depth=settings.lore_scan_depth,
        sticky=settings.lore_sticky,
        max_recursion=settings.lore_max_recursion,
        budget=settings.lore_budget,
        scan_budget_ms=settings.lore_scan_budget_ms,
        book_budget_ms=settings.lore_book_budget_ms,
    )


@dataclass
class Core:
    """Everything below the Discord layer, built once from the settings."""

    settings: Settings
    db: Database
    stores: Stores
    engine: TextEngine  # the default engine
    director: TurnDirector
    views: SceneViews
    # The default engine and the named backends, as the director generates through them.
    router: RoutingEngine | None = None

    def services(self, poster: Poster) -> Services:
        """The channel runtime and every registered feature, posting through `poster`."""
        deps = channel_deps(
            self.settings,
            self.stores,
            self.views,
            self.director,
            self.summarizer(),
            poster,
            SceneMechanics(self.stores),
        )
        return Services(deps, FEATURES)

    def summarizer(self) -> Summarizer:
        """The story-so-far summariser over this engine and director."""
        config = SummaryConfig(
            min_turns=self.settings.summary_min_turns, max_tokens=self.settings.summary_max_tokens
        )
        return Summarizer(
            self.engine, self.director, self.stores.turns, self.stores.summaries, config
        )

    async def close(self) -> None:
        try:
            await (self.router or self.engine).close()  # the router closes the default too
        finally:
            await self.db.dispose()


async def open_core(
    settings: Settings,
    mode: EngineMode = "full",
    *,
    engine: TextEngine | None = None,
    backends: Mapping[str, TextEngine] | None = None,
) -> Core:
    """Migrate the database, load or connect the engine (unless given one) and the named
    backends (unless given them; none for `vocab`, which generates nothing), build the rest."""
    await upgrade(settings.database_url)
    db = Database(settings.database_url, busy_timeout=settings.db_busy_timeout)
    stores = Stores.over(db)
    try:
        await stores.recall.repair()  # a damaged search index costs a log line, not the start
    except BaseException:
        await db.dispose()
        raise
    if engine is None:
        try:
            engine = await open_engine(settings, mode)
        except BaseException:
            await db.dispose()
            raise
    down: dict[str, str] = {}
    if backends is None and mode == "full":
        try:
            backends, down = await open_backends(settings)
        except BaseException:
            await engine.close()
            await db.dispose()
            raise
    router = RoutingEngine(engine, backends, down)
    director = TurnDirector(router, stores.turns, counter=TokenCounter(engine.count_many))
    sources = SceneLoreSources(stores, lore_config(settings), lore.lore_limits(settings))
    views = SceneViews(stores, sampler_from(settings), sources)
    return Core(settings, db, stores, engine, director, views, router)
