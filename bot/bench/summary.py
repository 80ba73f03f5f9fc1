"""`summary_delay_ratio`: the next reply's first token after a story-so-far update vs none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.bench.channels import Channel
from bot.bench.model import ModelBench
from bot.director import SceneView
from bot.domain import CancelToken
from bot.memory import Summarizer, SummaryConfig
from bot.store import StorySummary

SUMMARY_TOKENS = 48  # short summaries: the figure is about the delay, not the prose
REWIND = 16  # turns uncovered again before an "update" sample: one coarse step

_BACKLOG_PASSES = 50  # a bound: each pass is a model call


async def measure_summary_delay(
    bench: ModelBench, channel: Channel, samples: int, note: Callable[[str], None]
) -> tuple[list[float], list[float]]:
    """TTFTs (s) of the next reply after a round that updated the summary, and not, in order.

    Each sample: a player message, a round, the background work the session runs after it
    (a summary update when one is due; none otherwise), then the next player message and the
    time to the first token of its reply.
    """
    core = bench.core
    summarizer = Summarizer(
        bench.recorder,
        bench.director,
        core.stores.turns,
        core.stores.summaries,
        SummaryConfig(min_turns=4, max_tokens=SUMMARY_TOKENS, chunk_turns=32),
    )

    async def view() -> SceneView:
        scene = await core.stores.scenes.get(channel.scene.id)
        fresh = await core.views.view(scene)
        channel.view = replace(fresh, sampler=bench.sampler, max_replies=1)
        return channel.view

    # The backlog first, not measured: a pass takes one step per view, so repeat it.
    for _ in range(_BACKLOG_PASSES):
        if not await summarizer.catch_up(view, CancelToken()):
            break
    due: list[float] = []
    none: list[float] = []
    for sample in range(2 * samples):
        update = sample % 2 == 1
        if update:  # uncover the summary's last turns: the round leaves an update due
            summary = await core.stores.summaries.get(channel.scene.id)
            if summary is not None:
                rewound = StorySummary(summary.text, max(0, summary.through - REWIND))
                await core.stores.summaries.put(channel.scene.id, rewound)
            await view()
        await bench._say(channel)
        await bench._round(channel)
        stored = await summarizer.catch_up(view, CancelToken())  # what the session runs next
        await bench._say(channel)
        await view()
        seconds, _ = await bench._ttft(channel)
        (due if stored else none).append(seconds)
        note(f"next reply {seconds:.3f} s to first token ({'after' if stored else 'no'} update)")
    return due, none
