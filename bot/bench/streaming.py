"""`first_visible_ratio` and `stream_edit_overhead_ratio`: NPC turns shown as they are written.

Each sample is one NPC round of about 200 tokens on the in-process model, run by the bot's
own `NpcRounds` and posted through a poster that records when each call came back (no
network). The same round runs twice from the same history and context: streamed (posted at
its first sentence, edited within the rate limits, ending with the stored text) and posted
whole; the turn is withdrawn after each so the next one answers the same history. The same
round stopped at its first sentence before them leaves the prompt in the context, so both
start warm and write the same turn. An answer the model ends before MIN_TOKENS (or that
differs between the two) is not a sample: the player posts again.

- `first_visible_ratio`: the streamed round's first visible text against its final text,
  both from the round's start.
- `stream_edit_overhead_ratio`: the streamed round to its final text against the whole round
  to its post; the median of the paired ratios, the order of the two alternating.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from statistics import median
from typing import TYPE_CHECKING, Protocol

from rich.table import Table

from bot.channel.health import WriteGate
from bot.channel.ports import IncomingMessage, NoMechanics, PartSent
from bot.channel.publisher import TurnPublisher
from bot.channel.rounds import NpcRounds
from bot.channel.sessions import ChannelSession, Trigger
from bot.channel.streaming import TurnStreams
from bot.domain import CancelToken, Sampler
from bot.prompts import Prompt
from bot.scenes.views import SceneViews

if TYPE_CHECKING:
    from bot.bench.channels import Channel
    from bot.bench.model import ModelBench

STREAM_TOKENS = 200
FIRST_VISIBLE_TARGET = 0.35
STREAM_OVERHEAD_TARGET = 1.05
# Even: the streamed round goes first in half the samples (a first round may pay for both).
STREAM_SAMPLES = {"quick": 4, "full": 8}
STREAM_SEED = 905
MIN_TOKENS = 150  # an answer the model ends sooner is not a sample: another post is made
ATTEMPTS = 4  # posts per wanted sample at most


@dataclass
class StreamFigures:
    """Seconds from each round's start; one entry per sample."""

    first_visible_s: list[float] = field(default_factory=list)
    streamed_s: list[float] = field(default_factory=list)  # to the final text, streamed
    whole_s: list[float] = field(default_factory=list)  # to the post, whole
    tokens: list[int] = field(default_factory=list)  # of the stored turn
    updates: list[int] = field(default_factory=list)  # posts and edits of a streamed turn
    dropped: int = 0  # answers too short, or that differed between the two rounds


class TimedPoster:
    """A `LivePoster` that records when each post or edit came back; nothing leaves."""

    _ids = itertools.count(1)  # message ids are unique across the database: across posters

    def __init__(self, live: bool, on_post: Callable[[], None] | None = None) -> None:
        self.live = live
        self.calls: list[tuple[float, str, str]] = []  # (when, kind, text)
        self._on_post = on_post  # called once the first text is out

    def _record(self, kind: str, text: str) -> list[int]:
        self.calls.append((time.perf_counter(), kind, text))
        return [next(self._ids)]

    def owns_webhook(self, webhook_id: int) -> bool:
        return False

    def rate_key(self, channel_id: int) -> int | None:
        return channel_id  # paced as Discord's webhook would be

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        ids = self._record("post", text)
        await on_part(ids[0])
        return ids

    async def post_live(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        ids = await self.post_turn(channel_id, speaker, avatar_url, text, on_part)
        if self._on_post is not None:
            self._on_post()
        return ids

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        self._record("edit", text)
        return list(message_ids)

    async def edit_live(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
        *,
        final: bool,
    ) -> list[int]:
        return await self.edit_turn(channel_id, message_ids, speaker, avatar_url, text)

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        return None

    async def set_controls(self, channel_id: int, message_id: int, turn_id: int | None) -> None:
        return None

    async def notice(self, channel_id: int, text: str) -> None:
        self.calls.append((time.perf_counter(), "notice", text))

    async def refresh_links(self, urls: Sequence[str]) -> dict[str, str]:
        return {url: url for url in urls}

    @contextlib.asynccontextmanager
    async def typing(self, channel_id: int) -> AsyncIterator[None]:
        yield

    async def mark_unsaved(self, channel_id: int, message_id: int) -> None:
        return None

    async def unmark_unsaved(self, channel_id: int, message_id: int) -> None:
        return None

    async def messages_after(
        self, channel_id: int, after_id: int, limit: int
    ) -> list[IncomingMessage]:
        return []


async def _round(
    bench: ModelBench, channel: Channel, views: SceneViews, *, live: bool
) -> Sample | None:
    """One forced round of the channel's NPC, its turn withdrawn afterwards; None when the
    model had nothing to say (the demo model's empty reply, twice), which the bench drops."""
    core, poster = bench.core, TimedPoster(live)
    publisher = TurnPublisher(core.stores, poster)
    gate = WriteGate(poster, core.db.probe_writes)
    streams = TurnStreams(core.stores, publisher, poster)
    rounds = NpcRounds(
        core.stores, views, core.director, publisher, gate, NoMechanics(), streams=streams
    )
    speaker = channel.npc().name
    started = time.perf_counter()
    await rounds.run(
        ChannelSession(channel.scene.channel_id), CancelToken(), Trigger(forced=speaker)
    )
    turn = await core.stores.turns.last(channel.scene.id)
    if turn is None or turn.role != "model":
        return None
    if not poster.calls:
        raise RuntimeError("the streaming round stored a turn it never showed")
    await core.stores.turns.mark_deleted(turn.id)
    shows = [(when - started, text) for when, kind, text in poster.calls if kind != "notice"]
    if shows[-1][1] != turn.content:
        raise RuntimeError("the round did not end with the stored text")
    return Sample(shows[0][0], shows[-1][0], turn.content, len(shows))


@dataclass(frozen=True)
class Sample:
    first_s: float
    final_s: float
    text: str
    updates: int


async def _pair(
    bench: ModelBench, channel: Channel, sampler: Sampler, attempt: int, streamed_first: bool
) -> tuple[Sample, Sample, int] | None:
    """After a new player post: the streamed and the whole round of the NPC's answer, and its
    tokens; None when the model ended it before MIN_TOKENS, said nothing, or the two differ.

    The same round stopped at its first sentence leaves the prompt in the context, so the two
    that count start from the same context with the same seed, in the order asked.
    """
    core = bench.core
    await bench.channels.say(channel)
    seeded = replace(sampler, seed=sampler.seed + attempt)
    views = SceneViews(core.stores, seeded, core.views.lore)
    await _warm_up(bench, channel, views)
    order = (True, False) if streamed_first else (False, True)
    samples = {live: await _round(bench, channel, views, live=live) for live in order}
    streamed, whole = samples[True], samples[False]
    if streamed is None or whole is None:
        return None
    tokens = await _tokens(bench, streamed.text)
    if streamed.text != whole.text or tokens < MIN_TOKENS:
        return None
    return streamed, whole, tokens


async def _warm_up(bench: ModelBench, channel: Channel, views: SceneViews) -> None:
    """The same round, stopped at its first sentence: its prompt is then in the context."""
    core, cancel = bench.core, CancelToken()
    poster = TimedPoster(live=True, on_post=cancel.cancel)
    publisher = TurnPublisher(core.stores, poster)
    gate = WriteGate(poster, core.db.probe_writes)
    streams = TurnStreams(core.stores, publisher, poster)
    rounds = NpcRounds(
        core.stores, views, core.director, publisher, gate, NoMechanics(), streams=streams
    )
    session = ChannelSession(channel.scene.channel_id)
    await rounds.run(session, cancel, Trigger(forced=channel.npc().name))
    turn = await core.stores.turns.last(channel.scene.id)
    if turn is not None and turn.role == "model" and poster.calls:  # it ended before a sentence
        await core.stores.turns.mark_deleted(turn.id)


async def _tokens(bench: ModelBench, text: str) -> int:
    (count,) = await bench.core.engine.count_many([Prompt.plain(text)])
    return count


async def measure_streaming(
    bench: ModelBench, profile: str, note: Callable[[str], None]
) -> StreamFigures:
    """Streamed and whole rounds in one channel until the profile's samples are in."""
    core = bench.core
    sampler = replace(bench.sampler, max_tokens=STREAM_TOKENS)
    channel = await bench.new_channel(STREAM_SEED)
    await core.stores.scenes.update(channel.scene.id, max_replies=1)
    figures = StreamFigures()
    wanted = STREAM_SAMPLES.get(profile, STREAM_SAMPLES["full"])
    attempts = 0
    while len(figures.tokens) < wanted and attempts < wanted * ATTEMPTS:
        # The streamed round goes first in every other sample kept.
        pair = await _pair(bench, channel, sampler, attempts, len(figures.tokens) % 2 == 0)
        attempts += 1
        if pair is None:
            figures.dropped += 1
            continue
        streamed, whole, tokens = pair
        figures.first_visible_s.append(streamed.first_s)
        figures.streamed_s.append(streamed.final_s)
        figures.whole_s.append(whole.final_s)
        figures.tokens.append(tokens)
        figures.updates.append(streamed.updates)
        note(
            f"{tokens}-token turn: first text after {streamed.first_s:.2f} s, "
            f"final after {streamed.final_s:.2f} s ({streamed.updates} updates); "
            f"posted whole after {whole.final_s:.2f} s"
        )
    if figures.dropped:
        note(f"{figures.dropped} answers empty, unequal or under {MIN_TOKENS} tokens dropped")
    return figures


class Report(Protocol):
    """Where figures go (the bench's `Report`, which imports this module)."""

    meta: dict[str, object]

    def put(self, key: str, value: float | None) -> None: ...


def put_streaming(report: Report, figures: StreamFigures | None) -> None:
    """The two ratios, their parts, and the turns' sizes."""
    if figures is None:
        return
    put = report.put
    firsts = [f / s for f, s in zip(figures.first_visible_s, figures.streamed_s, strict=False)]
    overheads = [s / w for s, w in zip(figures.streamed_s, figures.whole_s, strict=False) if w]
    put("first_visible_ratio", median(firsts) if firsts else None)
    put("stream_edit_overhead_ratio", median(overheads) if overheads else None)
    put("stream_first_visible_s", median(figures.first_visible_s) if firsts else None)
    put("stream_final_s", median(figures.streamed_s) if firsts else None)
    put("stream_whole_s", median(figures.whole_s) if overheads else None)
    report.meta["streaming"] = {
        "samples": len(firsts),
        "max_tokens": STREAM_TOKENS,
        "turn_tokens": figures.tokens,
        "updates": figures.updates,
        "dropped": figures.dropped,
        "overhead_ratios": [round(ratio, 4) for ratio in overheads],
    }


def streaming_rows(table: Table, f: Callable[[str], float | None]) -> None:
    """The two figures, side by side with what they are measured against."""
    if f("first_visible_ratio") is None:
        return
    table.add_section()
    table.add_row(
        f"streamed NPC turn (≤{STREAM_TOKENS} tokens): first visible text vs the whole turn",
        _seconds(f("stream_first_visible_s")),
        _seconds(f("stream_final_s")),
        _number(f("first_visible_ratio")),
        _verdict(f("first_visible_ratio"), FIRST_VISIBLE_TARGET),
    )
    table.add_row(
        "the same round streamed vs posted whole, to the final text",
        _seconds(f("stream_final_s")),
        _seconds(f("stream_whole_s")),
        _number(f("stream_edit_overhead_ratio")),
        _verdict(f("stream_edit_overhead_ratio"), STREAM_OVERHEAD_TARGET),
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "[yellow]not measured[/]"
    return f"≤ {target:g} [green]met[/]" if value <= target else f"≤ {target:g} [red]not met[/]"
