"""Macros are resolved only in the entries the budget keeps, and their size is what counts."""

from __future__ import annotations

import tracemalloc

import pytest

import bot.lore.placement as placement
from bot.lore import CompiledBook, Lorebook, LoreConfig, LoreEntry, LoreSource
from bot.lore.placement import activate_lore
from bot.prompts.macros import count_macros, join_names, resolve_macros
from tests.lore.helpers import words

# A server book's {{char}} is the whole cast: 100 NPCs with names of 80 characters.
CAST = join_names([f"Npc{i:03d}".ljust(80, "a") for i in range(100)])
MEMORY_BOUND = 16 * 1024 * 1024  # bytes; every entry resolved would take about 160 MB


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the text of every macro resolution the placement does."""
    resolved: list[str] = []

    def spy(text: str, *, char: str, user: str) -> str:
        resolved.append(text)
        return resolve_macros(text, char=char, user=user)

    monkeypatch.setattr(placement, "resolve_macros", spy)
    return resolved


async def test_name_macros_are_resolved_only_in_what_the_budget_keeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    huge = [LoreEntry(constant=True, content="{{char}} " * 20 + f"#{i}") for i in range(1000)]
    small = [
        LoreEntry(constant=True, content=f"{{{{user}}}} sees lamp {i}.", priority=10)
        for i in range(5)
    ]
    book = CompiledBook(Lorebook(entries=(*huge, *small), name="Cast"))
    resolved = _spy(monkeypatch)
    tracemalloc.start()
    try:
        lore = await activate_lore(
            [LoreSource(book, CAST)],
            ["Rook: hello"],
            user="Rook",
            config=LoreConfig(),
            budget=1000,
            count_many=words,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [e.content for e in lore.fired] == [f"Rook sees lamp {i}." for i in range(5)]
    assert len(lore.dropped) == 1000 and lore.used <= lore.budget
    assert len(resolved) == 5  # the kept ones, never the 1,000 that cannot fit
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MiB"


async def test_a_macro_that_expands_past_the_budget_is_dropped_unbuilt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 90 characters as written, 400,000 once resolved: its resolved size is what counts.
    bomb = LoreEntry(keys=("fog",), content="{{char}}" * 10 + "!", priority=100)
    plain = LoreEntry(keys=("fog",), content="The fog rolls in.")
    book = CompiledBook(Lorebook(entries=(bomb, plain)))
    resolved = _spy(monkeypatch)
    lore = await activate_lore(
        [LoreSource(book, "M" * 40_000)],
        ["Rook: fog"],
        user="Rook",
        config=LoreConfig(),
        budget=1000,
        count_many=words,
    )
    assert [e.content for e in lore.fired] == ["The fog rolls in."]
    assert [e.content for e in lore.dropped] == ["{{char}}" * 10 + "!"]  # as written
    assert resolved == ["The fog rolls in."]


def test_macro_counts_give_the_resolved_length() -> None:
    for text in ("plain", "{{char}} and {{ USER }} <BOT>, <user>{{char}}", "{{chars}} <b>"):
        count = count_macros(text)
        resolved = resolve_macros(text, char="Marta", user="Rook and Ada")
        assert count.length(char="Marta", user="Rook and Ada") == len(resolved)
