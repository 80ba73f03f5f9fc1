"""The soak's figures on made-up evenings: each loss and each silence is counted."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.bench.report import percentile
from tests.soak.figures import (
    Post,
    lost,
    notice_counts,
    outcomes,
    posts_of,
    round_figures,
    unanswered,
)
from tests.soak.harness import SoakConfig, SoakResult
from tests.soak.players import parties, schedule
from tests.soak.report import render, shortfalls
from tests.soak.rounds import RoundRecord

A, B = 1, 2  # two channels


def _post(channel: int, message_id: int, at: float, kind: str = "player", text: str = "") -> Post:
    return Post(channel, message_id, at, kind, text)


def test_posts_are_read_from_the_fakes_messages_by_source() -> None:
    def message(mid: int, channel: int, source: str, second: int) -> dict[str, object]:
        stamp = datetime(2026, 1, 1, 20, 0, second, tzinfo=UTC).isoformat()
        return {"id": str(mid), "channel_id": str(channel), "timestamp": stamp,
                "source": source, "content": f"m{mid}"}  # fmt: skip

    messages = [
        message(3, A, "webhook", 5),
        message(1, A, "user", 1),
        message(2, B, "rest", 2),
        message(4, A, "interaction", 3),  # a command's answer: not the evening's
        message(5, 99, "user", 4),  # another channel
    ]
    posts = posts_of(messages, [A, B])
    assert [(p.message_id, p.kind) for p in posts] == [(1, "player"), (2, "notice"), (3, "npc")]
    assert posts[2].at - posts[0].at == 4.0


def test_a_post_no_turn_carries_is_lost() -> None:
    posts = [_post(A, 1, 1.0), _post(A, 2, 2.0), _post(B, 3, 3.0), _post(A, 4, 4.0, "npc")]
    assert lost(posts, {A: {1, 2}, B: {3}}) == []
    assert [p.message_id for p in lost(posts, {A: {1}, B: {3}})] == [2]
    assert [p.message_id for p in lost(posts, {A: {1, 2}})] == [3]


def test_a_post_after_the_last_round_of_its_channel_is_unanswered() -> None:
    posts = [_post(A, 1, 1.0), _post(A, 2, 5.0), _post(B, 3, 2.0)]
    rounds = [RoundRecord(A, 3.0, 4.0), RoundRecord(B, 2.5, 3.5)]
    assert [p.message_id for p in unanswered(posts, rounds)] == [2]
    assert unanswered(posts, [*rounds, RoundRecord(A, 6.0, 7.0)]) == []


def test_rounds_are_answered_refused_silent_or_unfinished() -> None:
    posts = [
        _post(A, 1, 1.0),
        _post(A, 2, 2.0),
        _post(A, 10, 4.0, "npc"),  # round 1's first post: 2 s after the trigger
        _post(A, 11, 4.5, "npc"),
        _post(A, 3, 5.0),  # read by no earlier round: round 2's oldest waiting post
        _post(A, 4, 6.0),
        _post(B, 5, 1.0),
        _post(B, 20, 3.0, "notice", "The NPCs could not answer; the log has details."),
    ]
    rounds = [
        RoundRecord(A, 7.0, 9.0),  # nothing posted: silent
        RoundRecord(A, 3.0, 5.0),
        RoundRecord(A, 10.0),  # still running
        RoundRecord(B, 2.0, 4.0),  # a notice only: refused
    ]
    done = outcomes(rounds, posts)  # in start order
    assert [(o.record.started, o.npc_posts, o.answered, o.refused) for o in done] == [
        (2.0, 0, False, True),
        (3.0, 2, True, False),
        (7.0, 0, False, False),
        (10.0, 0, False, False),
    ]
    assert done[1].trigger_wait == 2.0 and done[1].oldest_wait == 3.0
    figures = round_figures(done)
    assert (figures["rounds"], figures["rounds_answered"], figures["rounds_refused"]) == (4, 1, 1)
    assert (figures["rounds_silent"], figures["rounds_unfinished"]) == (1, 1)
    assert figures["npc_posts"] == 2 and figures["first_post_p95_s"] == 2.0
    assert notice_counts(done) == {"The NPCs could not answer; the log has details.": 1}


def test_the_oldest_wait_starts_after_the_previous_rounds_start() -> None:
    posts = [_post(A, 1, 1.0), _post(A, 2, 3.5), _post(A, 3, 4.0), _post(A, 9, 8.0, "npc")]
    done = outcomes([RoundRecord(A, 2.0, 3.0), RoundRecord(A, 5.0, 9.0)], posts)
    assert done[1].trigger_wait == 4.0 and done[1].oldest_wait == 4.5


def test_percentiles_take_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) is None


def test_the_schedule_is_seeded_bounded_and_in_time_order() -> None:
    party = parties(3, 4)
    plan = schedule(party, seconds=60.0, mean_gap=10.0, mention_share=0.5, seed=7)
    assert plan == schedule(party, seconds=60.0, mean_gap=10.0, mention_share=0.5, seed=7)
    assert [p.at for p in plan] == sorted(p.at for p in plan)
    assert all(0.0 <= p.at < 60.0 for p in plan)
    assert len(plan) <= 3 * 4 * (60 // 5 + 1)  # no gap is shorter than half the mean
    assert {p.author_id for p in plan} == {a for p in party for a in p.players}
    named = [p for p in plan if any(n.name in p.text for n in party[p.party].npcs)]
    assert 0 < len(named) < len(plan)


def _result(**changes: float | None) -> SoakResult:
    figures: dict[str, float | None] = dict.fromkeys(
        ("posts_lost", "posts_unanswered", "rounds_silent", "rounds_unfinished",
         "stalls_over_250ms"), 0.0,
    )  # fmt: skip
    figures |= {"posts_sent": 10.0, "posts_stored": 10.0, "peak_rss_growth": 0.01}
    return SoakResult(SoakConfig(channels=2, players=2, seconds=5.0), figures | changes)


def test_each_missed_target_is_one_line() -> None:
    assert shortfalls(_result()) == []
    for key in ("posts_lost", "posts_unanswered", "rounds_silent", "rounds_unfinished",
                "stalls_over_250ms"):  # fmt: skip
        (line,) = shortfalls(_result(**{key: 2.0}))
        assert line.startswith("2 "), line
    (line,) = shortfalls(_result(peak_rss_growth=0.2))
    assert "grew by 0.2" in line
    assert shortfalls(_result(peak_rss_growth=0.2), rss_growth=0.5) == []


def test_the_table_shows_every_target() -> None:
    table = render(_result(posts_lost=1.0))
    assert table.row_count == 12
    targets = list(table.columns[2].cells)
    assert sum("not met" in str(cell) for cell in targets) == 1
