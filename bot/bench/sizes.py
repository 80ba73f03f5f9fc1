"""How big the bench's scenes are and how often each figure is sampled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSizes:
    """One bench profile."""

    name: str
    min_ctx: int  # the bench raises N_CTX to at least this
    channels: int  # channels taking turns in the switching figure
    history_tokens: int  # history of each of those channels, in tokens
    reply_tokens: int  # max tokens of the NPC replies that keep those histories going
    warm_repeats: int
    paired_colds: int  # warm samples that also get a cold run of the very same prompt
    switch_passes: int  # round-robin passes over the channels
    overhead_repeats: int
    overhead_tokens: int  # max tokens of the rounds in the overhead figure
    reuse_rounds: int  # consecutive rounds in the over-budget channel
    storage_sizes: tuple[int, ...]
    storage_samples: int
    lore_entries: int = 1000  # the generated book of the lore_scan_ms figure
    lore_scan_depth: int = 8
    lore_samples: int = 40
    summary_samples: int = 3  # next replies after a summary update (and as many without)
    long_scene_turns: int = 50_000  # the scene whose export and clear are timed


FULL = BenchSizes(
    name="full",
    min_ctx=4096,
    channels=4,
    history_tokens=3000,
    reply_tokens=32,
    warm_repeats=5,
    paired_colds=2,
    switch_passes=3,
    # At least 7 paired ratios; single pairs swing ±10-25% on a shared VM (the same tokens
    # decoded twice in a row differ by 10% on average), and the median of 15 still moved
    # 0.98-1.05 across runs. The median's noise falls with the square root of the pairs:
    # 45 (about 4 minutes of rounds) cut it by 1.7 against 15 (about 1 minute).
    overhead_repeats=45,
    overhead_tokens=64,
    reuse_rounds=48,
    storage_sizes=(1_000, 10_000, 100_000),
    storage_samples=40,
)

QUICK = BenchSizes(
    name="quick",
    min_ctx=4096,
    channels=4,
    history_tokens=250,
    reply_tokens=12,
    warm_repeats=3,
    paired_colds=1,
    switch_passes=2,
    # The same 64-token cap as the full profile (the demo model often ends its turn sooner).
    # Single pairs swing ±5-10% and longer rounds narrow that little; the figure holds by the
    # number of pairs: 9 left its 95% interval ±10%, 45 (about a minute of short rounds) ±2.6%.
    overhead_repeats=45,
    overhead_tokens=64,
    reuse_rounds=16,
    storage_sizes=(1_000, 10_000),
    storage_samples=15,
    lore_samples=10,
    summary_samples=2,
    long_scene_turns=10_000,
)
