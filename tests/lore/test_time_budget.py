"""Books stored before the caps: each prompt's lore work stops at its time budget, visibly.

These books are compiled directly (as books stored before the caps existed would be), so only
the time budget stands between them and the bot.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

import bot.lore.activation as activation
from bot.director.lore import ShortfallLog
from bot.lore import CompiledBook, Lorebook, LoreConfig, LoreEntry, LoreSource
from bot.lore.activation import KEYS_LATE, LATE, RECURSION_LATE, scan_books
from bot.lore.budget import ScanBudget
from bot.lore.model import STICKY_MAX
from bot.lore.placement import LoreActivation, activate_lore
from bot.lore.report import describe_activation
from bot.lore.wording import prompt_reply
from tests.lore.helpers import words
from tests.lore.hostile import BACKTRACKING_TURN, backtracking_key, compiled_traps

# Small budgets keep the tests quick; the defaults are a few times these.
CONFIG = LoreConfig(scan_budget_ms=1000, book_budget_ms=40)
FOG = LoreEntry(keys=("fog",), content="Fog rolls in. " + "x" * 40)  # recursion meets the traps
HARBOR = LoreEntry(keys=("harbor",), content="The harbor sleeps.")
TURNS = [BACKTRACKING_TURN, "Marta: the fog at the harbor.", BACKTRACKING_TURN]


def _budget_reason(reason: str) -> bool:
    return reason.endswith(LATE) or reason.endswith(KEYS_LATE) or "in time" in reason


async def _activate(*books: CompiledBook, config: LoreConfig = CONFIG) -> LoreActivation:
    sources = [LoreSource(b, "Marta") for b in books]
    return await activate_lore(
        sources, TURNS, user="Rook", config=config, budget=1000, count_many=words
    )


async def test_backtracking_keys_cost_a_prompt_its_budget_and_no_more() -> None:
    traps = compiled_traps(2000, FOG, name="Mallory's book")
    lore = await _activate(traps)
    # The plainly keyed entry is decided and in; the traps are named, not guessed.
    assert [e.title for e in lore.fired] == ["fog"]
    late = [u for u in lore.unevaluated if u.title.startswith("/(x|xx)+")]
    assert len(late) == 2000
    assert sum(_budget_reason(u.reason) for u in late) >= 1900, late[:3]
    # A budget's worth of searches ran: only a few keys timed out and were switched off.
    assert len(traps.table.off) < 100
    report = describe_activation(lore)
    assert report[0].startswith("1 lore entries fired") and "2001 not evaluated" in report[0]
    assert "not evaluated (the lore time budget ran out):" in report
    assert any(line.startswith("  Mallory's book › /(x|xx)+y0$/: ") for line in report)
    # Its content met the traps too, when recursion read it for further keys.
    (fog,) = [u for u in lore.unevaluated if u.title == "fog"]
    assert fog.reason == "fired, but its content was not read for further keys in time"


async def test_a_hostile_book_leaves_the_other_books_their_time() -> None:
    server = CompiledBook(Lorebook(entries=(HARBOR,), name="Harbor"))
    lore = await _activate(compiled_traps(2000), compiled_traps(2000), server)
    assert "harbor" in [e.title for e in lore.fired]
    # Its own keys were all matched; only its content could not be read for the traps' keys.
    assert [u.reason for u in lore.unevaluated if u.book == "Harbor"] == [RECURSION_LATE]


async def test_keys_found_still_decide_when_others_are_unknown() -> None:
    trap = backtracking_key(7)
    either = LoreEntry(keys=(trap, "fog"), content="Either key.")
    only = LoreEntry(keys=(trap,), content="Only the trap.")
    unless = LoreEntry(
        keys=("fog",),
        secondary_keys=(trap,),
        selective=True,
        content="Fog unless the trap.",
        extensions={"selectiveLogic": 2},  # NOT ANY
    )
    also = LoreEntry(
        keys=("fog",),
        secondary_keys=(trap, "harbor"),
        selective=True,
        content="Fog and one.",
    )
    book = compiled_traps(2000, either, only, unless, also)
    result = scan_books([book], TURNS, CONFIG)
    fired = {c.entry.entry.content for c in result.candidates}
    undecided = {u.entry.entry.content for u in result.undecided}
    assert {"Either key.", "Fog and one."} <= fired  # a known hit settles it
    assert {"Only the trap.", "Fog unless the trap."} <= undecided  # only the trap could


async def test_a_huge_stored_sticky_replays_at_most_32_prompts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passes: list[int] = []
    real_at = activation._Scan.at

    def counted(self: activation._Scan, ago: int, skip: object = ()) -> object:
        passes.append(ago)
        return real_at(self, ago, skip)

    monkeypatch.setattr(activation._Scan, "at", counted)
    endless = LoreEntry(keys=("comet",), content="The comet.", extensions={"sticky": 10**6})
    book = CompiledBook(Lorebook(entries=(endless,)))
    assert book.entries[0].sticky == STICKY_MAX
    turns = ["Rook: a comet!"] + [f"Marta: turn {i}." for i in range(127)]
    assert scan_books([book], turns, LoreConfig(scan_depth=1)).candidates == []
    assert max(passes) == STICKY_MAX
    passes.clear()
    recent = turns[: 128 - 100]  # the comet 27 turns ago: still sticky
    (still,) = scan_books([book], recent, LoreConfig(scan_depth=1)).candidates
    assert still.why.kind == "sticky" and still.why.ago == 27


def test_overflowing_group_weights_do_not_break_a_prompt() -> None:
    heavy = {"group": "weather", "group_weight": 1e308}
    rain = LoreEntry(keys=("rain",), content="Rain.", extensions=heavy)
    hail = LoreEntry(keys=("rain",), content="Hail.", extensions=heavy)
    found = scan_books([CompiledBook(Lorebook(entries=(rain, hail)))], ["Rook: rain"], CONFIG)
    assert len(found.candidates) == 1  # one of the group, drawn with finite weights


def test_a_stored_regex_that_would_unroll_is_never_compiled() -> None:
    boom = LoreEntry(keys=("/a{100000}/",), content="Boom.")
    book = CompiledBook(Lorebook(entries=(boom,)))
    assert book.entries[0].primary == ()  # a key that can never match
    assert scan_books([book], ["Rook: " + "a" * 200], CONFIG).candidates == []
    assert book.table.regex_keys == 0


def test_huge_integers_in_a_stored_book_are_read_as_unset() -> None:
    odd = LoreEntry(
        keys=("fog",), content="Fog.", extensions={"sticky": 10**400, "probability": 10**400}
    )
    (found,) = scan_books(
        [CompiledBook(Lorebook(entries=(odd,)))], ["Rook: fog"], CONFIG
    ).candidates
    assert found.entry.sticky is None and found.entry.chance == 100


def test_a_book_of_thousands_of_phrases_stops_at_its_budget() -> None:
    phrases = tuple(
        LoreEntry(keys=tuple(f"the word{i}x{j}" for j in range(10)), content=f"E{i}.")
        for i in range(2000)
    )
    book = CompiledBook(Lorebook(entries=phrases, name="Phrases"))
    turns = ["Rook: " + "the end " * 500] * 64
    config = LoreConfig(scan_depth=64, scan_budget_ms=1000, book_budget_ms=5)
    result = scan_books([book], turns, config)
    assert result.candidates == []
    assert {u.reason for u in result.undecided} <= {KEYS_LATE, LATE}
    assert len(result.undecided) == 2000


def test_a_garbage_collection_in_the_middle_of_a_scan_is_not_charged_to_the_book(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full collection walks the whole process's heap, whichever thread set it off."""
    book = CompiledBook(Lorebook(entries=(FOG, HARBOR), name="Harbor"))
    match = book.table.hits_many

    def collect_then_match(*args: Sequence[object]) -> object:
        gc.collect()  # as an allocation of the scan's own could set it off
        return match(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(book.table, "hits_many", collect_then_match)
    heap = [[] for _ in range(800_000)]  # a long-running bot's: tens of ms to walk, here
    config = LoreConfig(scan_budget_ms=1000, book_budget_ms=5)
    result = scan_books([book], ["Marta: the fog at the harbor."], config)
    assert result.undecided == []
    assert [c.entry.entry.content for c in result.candidates] == [FOG.content, HARBOR.content]
    del heap


def test_asking_whether_time_is_up_reads_the_cpu_clock_only_when_it_may_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scan asks hundreds of times; the CPU clock is a system call, the wall clock is not."""
    reads: list[float] = []
    cpu_time = time.thread_time

    def counted() -> float:
        reads.append(cpu_time())
        return reads[-1]

    def ask() -> int:
        budget = ScanBudget(total_ms=1000, book_ms=1000, books=1)
        with budget.book(0) as deadline:
            reads.clear()
            assert not any(deadline.passed() for _ in range(1000))
            return len(reads)

    monkeypatch.setattr(time, "thread_time", counted)
    with ThreadPoolExecutor(1) as thread:  # a thread of its own, as a scan runs in
        asked = thread.submit(ask).result()
    assert asked < 100  # only around the GIL handovers, one per millisecond of CPU time


async def test_the_gm_sees_what_was_left_out_and_the_log_tells_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lore = await _activate(compiled_traps(300, name="Traps"))
    reply = prompt_reply("Next prompt: 10 tokens.", "prompt", lore, has_lore=True)
    assert reply.text.startswith("Next prompt: 10 tokens.\n0 lore entries fired")
    assert "300 not evaluated for lack of time: see lore.txt." in reply.text
    (report,) = [data.decode() for name, data in reply.more_files if name == "lore.txt"]
    assert "  Traps › /(x|xx)+y299$/: " in report
    told = ShortfallLog()
    with caplog.at_level(logging.WARNING, logger="bot.director.lore"):
        for _ in range(3):
            told.note(5, lore)
        told.note(6, lore)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.director.lore"] == [
        f"scene {n}: lorebook 'Traps' ran out of its lore time budget; 300 entries were not "
        "evaluated (/scene prompt names them)"
        for n in (5, 6)
    ]


def test_books_left_out_for_a_cap_are_shown_even_when_no_book_is_left() -> None:
    line = "Mallory's card: That lorebook has too many regex keys (2,000; the limit is 100)."
    reply = prompt_reply(
        "Next prompt: 10 tokens.", "prompt", LoreActivation(refused=(line,)), False
    )
    assert reply.text == (
        "Next prompt: 10 tokens.\n0 lore entries fired, 0 of 0 tokens; 1 lorebook(s) left out\n"
        f"left out (over the lorebook caps):\n  {line}"
    )
