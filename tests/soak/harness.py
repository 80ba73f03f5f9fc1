"""The soak: the real bot against the fake Discord and llama-server through a busy evening.

N channels, each with a scene, one or two NPCs and M players who post at seeded random times
for D seconds; then the bot drains (bounded) and the figures are taken from what the fake saw,
what the store kept and which rounds ran.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.bench.report import MiB, current_rss_bytes, peak_rss_bytes
from bot.bench.stall import Stalls, stall_monitor
from bot.settings import Settings
from cogs.webhooks import UNSAVED_MARK
from tests.e2e import (
    Running,
    command,
    create_npc,
    e2e_settings,
    fake_discord,
    npc_posts,
    settle,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.soak.figures import lost, notice_counts, outcomes, posts_of, round_figures, unanswered
from tests.soak.players import Party, Planned, add_members, parties, schedule
from tests.soak.rounds import RoundLog
from tests.soak.watch import Watch, watching

Json = dict[str, Any]
STALL_SECONDS = 0.1  # a gap the event loop's other channels would notice
WITNESS_SECONDS = 0.25  # a stall long enough to record where the loop was
SEND_TIMEOUT = 10.0  # one post through the fake's gateway: milliseconds, unless the loop hangs


@dataclass(frozen=True)
class SoakConfig:
    """What the evening is made of; the defaults are `tavernkeep bench --soak`'s."""

    channels: int = 20
    players: int = 5
    seconds: float = 300.0
    mean_gap: float = 30.0  # each player's average seconds between two posts
    quiet_seconds: float = 1.0
    max_new_tokens: int = 60
    n_ctx: int = 4096  # each channel's window: within a slot of either test server
    mention_share: float = 0.1  # posts that name an NPC, which asks for that NPC at once
    max_replies: int | None = None  # NPC turns per round (/scene settings); None: the default
    seed: int = 7
    drain_timeout: float = 300.0  # after the last post, at most this long until idle


@dataclass
class SoakResult:
    """The figures of one soak, with the ids behind any loss and what the notices said."""

    config: SoakConfig
    figures: dict[str, float | None]
    notices: dict[str, int] = field(default_factory=dict)
    lost_ids: list[int] = field(default_factory=list)
    unanswered_ids: list[int] = field(default_factory=list)
    stalls_ms: list[float] = field(default_factory=list)
    watch: Watch = field(default_factory=Watch)

    def as_json(self) -> Json:
        meta = {"config": asdict(self.config), "notices": self.notices}
        meta |= {"lost_ids": self.lost_ids, "unanswered_ids": self.unanswered_ids}
        meta |= {"rss_mb": self.watch.rss_mb, "stall_stacks": self.watch.stall_stacks}
        return {**self.figures, "stalls_ms": self.stalls_ms, "meta": meta}


def soak_settings(fake: FakeDiscord, db: Path, config: SoakConfig, server_url: str) -> Settings:
    """The bot's settings: the fake Discord, a SQLite file, llama-server at `server_url`."""
    return e2e_settings(
        fake,
        db,
        backend="llama-server",
        backend_url=server_url,
        quiet_seconds=config.quiet_seconds,
        max_new_tokens=config.max_new_tokens,
        n_ctx=config.n_ctx,
    )


async def run_soak(
    config: SoakConfig,
    server_url: str,
    folder: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> SoakResult:
    """Run one evening against llama-server at `server_url` (its database goes in `folder`)."""
    planned = parties(config.channels, config.players)
    # The fake's web server logs every request it serves: thousands of lines, none the bot's.
    access_log = logging.getLogger("aiohttp.access")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    discord = fake_discord(lambda fake: add_members(fake, planned))
    fake = await anext(discord)
    # A test run reaches the soak with the objects of a thousand earlier tests still alive, and
    # each full collection walks them all (over half a second on a loaded CI machine), a pause
    # a bot process never has. Frozen, they are left out of collections until the soak ends.
    gc.collect()
    gc.freeze()
    try:
        running = await start_bot(fake, soak_settings(fake, folder / "soak.db", config, server_url))
        try:
            progress(f"opening {config.channels} channels")
            channels = await open_tables(running, planned, config.max_replies)
            return await evening(running, config, planned, channels, progress)
        finally:
            await stop_bot(running)
    finally:
        gc.unfreeze()
        await discord.aclose()
        access_log.setLevel(level)


async def open_tables(
    running: Running, planned: list[Party], max_replies: int | None = None
) -> list[int]:
    """The GM creates the NPCs once, then opens a channel with a scene and its cast per party."""
    fake = running.fake
    for npc in dict.fromkeys(npc for party in planned for npc in party.npcs):
        _expect(await create_npc(fake, npc, channel_id=fake.channel_id), npc.name)
    channels = []
    for party in planned:
        channel_id = await fake.open_channel(f"table-{party.index}")
        gm = {"user_id": fake.admin_id, "channel_id": channel_id}
        _expect(await command(fake, "scene", "start", **gm), "Scene started")
        if max_replies is not None:
            options = {"max_replies": max_replies}
            _expect(await command(fake, "scene", "settings", options=options, **gm), "changed")
        for npc in party.npcs:
            added = await command(fake, "scene", "add", options={"npc": npc.name}, **gm)
            _expect(added, "joined the scene")
        channels.append(channel_id)
    greetings = [post for channel in channels for post in npc_posts(fake, channel)]
    await settle(running, greetings)
    return channels


def _expect(answer: Json, needle: str) -> None:
    if needle not in answer["content"]:
        raise RuntimeError(f"soak set-up: expected {needle!r}, the bot said {answer['content']!r}")


async def evening(
    running: Running,
    config: SoakConfig,
    planned: list[Party],
    channels: list[int],
    progress: Callable[[str], None],
) -> SoakResult:
    """Post the schedule, drain, and take the figures (RSS around it, stalls throughout)."""
    log = RoundLog()
    log.watch(running.bot.tavern.sessions)
    plan = schedule(
        planned,
        seconds=config.seconds,
        mean_gap=config.mean_gap,
        mention_share=config.mention_share,
        seed=config.seed,
    )
    rss_start, peak_start = current_rss_bytes(), peak_rss_bytes()
    load_start = os.getloadavg()[0]  # other work on the machine slows the server down too
    progress(f"{len(plan)} posts over {config.seconds:g} s")
    async with (
        stall_monitor(STALL_SECONDS) as stalls,
        watching(running.fake, WITNESS_SECONDS) as watch,
    ):
        started = time.monotonic()
        sent = await post_all(running.fake, plan, channels)
        posted = time.monotonic()
        progress(f"posted {len(sent)} in {posted - started:.0f} s; waiting for the last rounds")
        drained = await drain(running, sent, config.drain_timeout)
        drain_s = time.monotonic() - posted
    timing = {"posting_s": posted - started, "drain_s": drain_s, "drained": float(drained)}
    timing |= {"load_start": load_start, "load_end": os.getloadavg()[0]}
    memory = _memory(rss_start, current_rss_bytes(), peak_start, peak_rss_bytes())
    memory["rss_half_mb"] = watch.rss_at(timing["posting_s"] / 2)
    result = await collect(running, config, channels, log, sent)
    result.figures |= timing | memory | _stall_figures(stalls)
    result.stalls_ms = [round(gap * 1000, 1) for gap in stalls.over]
    result.watch = watch
    return result


async def post_all(fake: FakeDiscord, plan: list[Planned], channels: list[int]) -> list[Json]:
    """Each planned post at its time (late rather than never, if the loop falls behind)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = []
    for post in plan:
        wait = start + post.at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        message = fake.user_message(channels[post.party], post.author_id, post.text)
        sent.append(await asyncio.wait_for(message, SEND_TIMEOUT))
    return sent


async def drain(running: Running, sent: list[Json], timeout: float) -> bool:
    """Wait until the bot has taken every post and no round runs or waits; False at `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            for message in sent:
                await running.probe.handled("message", message["id"], timeout)
            # Shielded: a timeout must leave the rounds be (`wait_idle` gathers their tasks, and
            # a cancelled gather cancels them), so the figures count them as still running.
            await asyncio.shield(running.bot.tavern.sessions.wait_idle())
    except TimeoutError:
        return False
    return True


async def collect(
    running: Running, config: SoakConfig, channels: list[int], log: RoundLog, sent: list[Json]
) -> SoakResult:
    """Posts sent against posts stored, and what each round put in its channel."""
    posts = posts_of(running.fake.messages, channels)
    stored = {channel: await _stored_ids(running, channel) for channel in channels}
    missing = lost(posts, stored)
    waiting = unanswered(posts, log.rounds)
    sent_ids = {int(m["id"]) for m in sent}
    marked = {m for m, mark, _ in running.fake.reactions if mark == UNSAVED_MARK}
    rounds = outcomes(log.rounds, posts)
    figures: dict[str, float | None] = {
        "posts_sent": len(sent),
        "posts_stored": sum(p.kind == "player" for p in posts) - len(missing),
        "posts_lost": len(missing),
        "posts_marked_unsaved": len(marked & sent_ids),
        "posts_unanswered": len(waiting),
        "notices": sum(p.kind == "notice" for p in posts),
        **round_figures(rounds),
        # What the remote engine lets run at once (the server's slots) and the most it did.
        "slots": getattr(running.core.engine, "parallel", None),
        "peak_generations": getattr(running.core.engine, "peak_running", None),
    }
    return SoakResult(
        config,
        figures,
        notice_counts(rounds),
        [p.message_id for p in missing],
        [p.message_id for p in waiting],
    )


async def _stored_ids(running: Running, channel_id: int) -> set[int]:
    """Message ids of the players' turns stored for the channel's scene."""
    turns = await running.turns(channel_id)
    return {i for turn in turns if turn.role == "user" for i in turn.message_ids}


def _memory(
    rss_start: int | None, rss_end: int | None, peak_start: int, peak_end: int
) -> dict[str, float | None]:
    """Resident memory before and after the evening, in MiB; growth of the peak, as a share."""
    return {
        "rss_start_mb": rss_start / MiB if rss_start else None,
        "rss_end_mb": rss_end / MiB if rss_end else None,
        "peak_rss_start_mb": peak_start / MiB,
        "peak_rss_end_mb": peak_end / MiB,
        "peak_rss_growth": peak_end / peak_start - 1 if peak_start else None,
    }


def _stall_figures(stalls: Stalls) -> dict[str, float | None]:
    return {
        "stalls_over_100ms": sum(gap > 0.1 for gap in stalls.over),
        "stalls_over_250ms": sum(gap > 0.25 for gap in stalls.over),
        "longest_stall_ms": stalls.longest * 1000,
    }
