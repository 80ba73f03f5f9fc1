"""The soak's figures as a rich table beside their targets, and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from bot.bench.report import number, seconds, verdict
from tests.soak.harness import SoakResult

# The evening's targets: nothing lost, nothing unanswered, no stall a player would feel,
# and memory that does not grow with the hours.
RSS_GROWTH_TARGET = 0.10
STALL_TARGET_MS = 250.0


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MiB"


Row = tuple[str, str, str]  # figure, measured, target


def render(result: SoakResult) -> Table:
    """Every figure of the soak, one row each, with its target where it has one."""
    f, c = result.figures.get, result.config
    table = Table(
        title=(
            f"tavernkeep bench --soak: {c.channels} channels × {c.players} players, "
            f"{c.seconds:g} s, a post every ~{c.mean_gap:g} s per player, "
            f"QUIET_SECONDS={c.quiet_seconds:g}, MAX_NEW_TOKENS={c.max_new_tokens}, "
            f"max_replies {c.max_replies or 'as the scene has it'}, "
            f"llama-server with {_count(f('slots'))} slots"
        ),
        title_justify="left",
        caption="wall-clock times from the fake Discord's message timestamps",
        caption_justify="left",
    )
    for column in ("figure", "measured", "target"):
        table.add_column(column)
    for index, rows in enumerate((_delivery(result), _waits(result), _resources(result))):
        if index:
            table.add_section()
        for row in rows:
            table.add_row(*row)
    return table


def _delivery(result: SoakResult) -> list[Row]:
    """Nothing lost, nothing left without a round, no round left without an answer."""
    f = result.figures.get
    drain = f"{seconds(f('drain_s'))}, at most {result.config.drain_timeout:g} s"
    return [
        (
            "player posts lost (stored / sent; marked ⚠️ for their author)",
            f"{_count(f('posts_lost'))} ({_count(f('posts_stored'))} / "
            f"{_count(f('posts_sent'))}; {_count(f('posts_marked_unsaved'))})",
            verdict(f("posts_lost"), 0),
        ),
        (
            "player posts no round followed",
            _count(f("posts_unanswered")),
            verdict(f("posts_unanswered"), 0),
        ),
        (
            "rounds neither answered nor refused (answered / refused with a notice / of all)",
            f"{_count(f('rounds_silent'))} ({_count(f('rounds_answered'))} / "
            f"{_count(f('rounds_refused'))} / {_count(f('rounds'))})",
            verdict(f("rounds_silent"), 0),
        ),
        (
            f"rounds still running after the drain ({drain})",
            _count(f("rounds_unfinished")),
            verdict(f("rounds_unfinished"), 0),
        ),
    ]


def _waits(result: SoakResult) -> list[Row]:
    """How long players waited for the NPCs, and how busy the server was."""
    f = result.figures.get
    return [
        (
            "trigger (last post before the round) → first NPC post: p50 / p95 (max)",
            f"{seconds(f('first_post_p50_s'))} / {seconds(f('first_post_p95_s'))} "
            f"({seconds(f('first_post_max_s'))})",
            "",
        ),
        (
            "oldest post a round answers → its first NPC post: p50 / p95",
            f"{seconds(f('oldest_wait_p50_s'))} / {seconds(f('oldest_wait_p95_s'))}",
            "",
        ),
        (
            "NPC posts / notices; most generations at once",
            f"{_count(f('npc_posts'))} / {_count(f('notices'))}; {_count(f('peak_generations'))}",
            "",
        ),
    ]


def _resources(result: SoakResult) -> list[Row]:
    """Memory before and after, the machine's load, and the event loop's stalls."""
    f = result.figures.get
    return [
        (
            "peak resident memory: after set-up → after the drain (growth)",
            f"{_mib(f('peak_rss_start_mb'))} → {_mib(f('peak_rss_end_mb'))} "
            f"({number(f('peak_rss_growth'), 3)})",
            verdict(f("peak_rss_growth"), RSS_GROWTH_TARGET),
        ),
        (
            "resident memory now: after set-up → half-way through the posting → after the drain",
            f"{_mib(f('rss_start_mb'))} → {_mib(f('rss_half_mb'))} → {_mib(f('rss_end_mb'))}",
            "",
        ),
        (
            "the machine's load (1-minute average): before → after the evening",
            f"{number(f('load_start'), 1)} → {number(f('load_end'), 1)}",
            "",
        ),
        (
            "event-loop stalls over 100 ms (longest)",
            f"{_count(f('stalls_over_100ms'))} ({number(f('longest_stall_ms'), 0)} ms)",
            "",
        ),
        (
            f"event-loop stalls over {STALL_TARGET_MS:g} ms",
            _count(f("stalls_over_250ms")),
            verdict(f("stalls_over_250ms"), 0),
        ),
    ]


def shortfalls(result: SoakResult, rss_growth: float = RSS_GROWTH_TARGET) -> list[str]:
    """Each target the soak missed, in a line that says by how much (none: all met)."""
    f = result.figures
    checks = [
        (f["posts_lost"], f"{f['posts_lost']:.0f} player posts not stored: {result.lost_ids}"),
        (
            f["posts_unanswered"],
            f"{f['posts_unanswered']:.0f} player posts no round followed: {result.unanswered_ids}",
        ),
        (f["rounds_silent"], f"{f['rounds_silent']:.0f} rounds neither answered nor refused"),
        (f["rounds_unfinished"], f"{f['rounds_unfinished']:.0f} rounds still ran after the drain"),
        (
            f["stalls_over_250ms"],
            f"{f['stalls_over_250ms']:.0f} event-loop stalls over {STALL_TARGET_MS:g} ms: "
            f"{result.stalls_ms} ms",
        ),
    ]
    missed = [line for count, line in checks if count]
    growth = f["peak_rss_growth"]
    if growth is None or growth > rss_growth:
        missed.append(f"peak resident memory grew by {growth} (at most {rss_growth:g})")
    return missed


def write_json(result: SoakResult, path: Path) -> None:
    """The figures, the stalls and the configuration, for comparing runs."""
    path.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
