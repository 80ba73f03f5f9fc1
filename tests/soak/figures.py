"""The soak's figures: what the fake Discord saw, what the store kept and which rounds ran."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.bench.report import percentile
from tests.soak.rounds import RoundRecord

Json = dict[str, Any]
# Who wrote a message in the fake: a player, an NPC through the channel's webhook, or the bot
# itself (a notice such as "the NPCs could not answer").
KINDS = {"user": "player", "webhook": "npc", "rest": "notice"}


@dataclass(frozen=True)
class Post:
    """One message of a soak channel, with the wall-clock second the fake created it."""

    channel_id: int
    message_id: int
    at: float
    kind: str
    text: str


def posts_of(messages: Iterable[Json], channels: Iterable[int]) -> list[Post]:
    """The soak channels' player posts, NPC posts and notices, oldest first."""
    wanted = set(channels)
    posts = [
        Post(
            int(m["channel_id"]),
            int(m["id"]),
            datetime.fromisoformat(m["timestamp"]).timestamp(),
            KINDS[m["source"]],
            m["content"],
        )
        for m in messages
        if m["source"] in KINDS and int(m["channel_id"]) in wanted
    ]
    return sorted(posts, key=lambda p: p.at)


@dataclass
class Outcome:
    """What one round put in its channel, and how long its players waited for it."""

    record: RoundRecord
    npc_posts: int = 0
    notices: list[str] = field(default_factory=list)
    # From the last player post before the round started to its first NPC post.
    trigger_wait: float | None = None
    # From the oldest post no earlier round could have read to the round's first NPC post.
    oldest_wait: float | None = None

    @property
    def answered(self) -> bool:
        return self.npc_posts > 0

    @property
    def refused(self) -> bool:
        return not self.answered and bool(self.notices)


def outcomes(rounds: Iterable[RoundRecord], posts: list[Post]) -> list[Outcome]:
    """Each round with the posts made in its channel while it ran (one round at a time there)."""
    by_channel: dict[int, list[Post]] = {}
    for post in posts:
        by_channel.setdefault(post.channel_id, []).append(post)
    done: list[Outcome] = []
    previous_start: dict[int, float] = {}
    for record in sorted(rounds, key=lambda r: r.started):
        channel = by_channel.get(record.channel_id, [])
        end = record.ended if record.ended is not None else float("inf")
        during = [p for p in channel if record.started <= p.at <= end]
        outcome = Outcome(record, sum(p.kind == "npc" for p in during))
        outcome.notices = [p.text for p in during if p.kind == "notice"]
        first = next((p.at for p in during if p.kind == "npc"), None)
        asked = [p.at for p in channel if p.kind == "player" and p.at <= record.started]
        since = previous_start.get(record.channel_id, float("-inf"))
        waiting = [at for at in asked if at > since]
        if first is not None and asked:
            outcome.trigger_wait = first - asked[-1]
            outcome.oldest_wait = first - (waiting[0] if waiting else asked[-1])
        previous_start[record.channel_id] = record.started
        done.append(outcome)
    return done


def unanswered(posts: list[Post], rounds: Iterable[RoundRecord]) -> list[Post]:
    """Player posts after which no round started in their channel."""
    last_start: dict[int, float] = {}
    for record in rounds:
        last_start[record.channel_id] = max(
            record.started, last_start.get(record.channel_id, float("-inf"))
        )
    return [
        p
        for p in posts
        if p.kind == "player" and p.at > last_start.get(p.channel_id, float("-inf"))
    ]


def lost(posts: list[Post], stored: Mapping[int, set[int]]) -> list[Post]:
    """Player posts whose message id no stored turn of their channel carries."""
    return [
        p
        for p in posts
        if p.kind == "player" and p.message_id not in stored.get(p.channel_id, set())
    ]


def round_figures(rounds: list[Outcome]) -> dict[str, float | None]:
    """Counts of rounds by outcome, and the waits for their first NPC post."""
    waits = [o.trigger_wait for o in rounds if o.trigger_wait is not None]
    oldest = [o.oldest_wait for o in rounds if o.oldest_wait is not None]
    return {
        "rounds": len(rounds),
        "rounds_answered": sum(o.answered for o in rounds),
        "rounds_refused": sum(o.refused for o in rounds),
        "rounds_silent": sum(
            not o.answered and not o.refused and o.record.ended is not None for o in rounds
        ),
        "rounds_unfinished": sum(o.record.ended is None for o in rounds),
        "rounds_cancelled": sum(o.record.cancelled for o in rounds),
        "npc_posts": sum(o.npc_posts for o in rounds),
        "first_post_p50_s": percentile(waits, 0.5),
        "first_post_p95_s": percentile(waits, 0.95),
        "first_post_max_s": max(waits, default=None),
        "oldest_wait_p50_s": percentile(oldest, 0.5),
        "oldest_wait_p95_s": percentile(oldest, 0.95),
    }


def notice_counts(rounds: list[Outcome]) -> dict[str, int]:
    """How often each notice text was posted during rounds (what a refusal said)."""
    return dict(Counter(text for o in rounds for text in o.notices))
