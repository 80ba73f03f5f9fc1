"""Small builders for lore tests: books from friendly tables, scans and activations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.lore import CompiledBook, Lorebook, LoreConfig, scan_lore
from bot.lore.placement import LoreActivation, LoreSource, activate_lore
from bot.lore.tables import entry_from_table
from bot.prompts import Prompt


def book(*tables: dict[str, Any], **fields: Any) -> Lorebook:
    """A book whose entries are written as scene-file [[lore]] tables."""
    return Lorebook(entries=tuple(entry_from_table(t) for t in tables), **fields)


def fired(
    lorebook: Lorebook,
    turns: Sequence[str],
    config: LoreConfig | None = None,
    *,
    speaker: str | None = None,
) -> dict[str, str]:
    """{entry content: why} of every entry that fires after `turns` for `speaker`'s prompt."""
    found = scan_lore([CompiledBook(lorebook)], turns, config or LoreConfig(), speaker=speaker)
    return {c.entry.entry.content: c.why.describe() for c in found}


async def words(prompts: list[Prompt]) -> list[int]:
    """A stand-in token counter: one token per word."""
    return [len(p.text.split()) for p in prompts]


async def activate(
    books: Sequence[Lorebook],
    turns: Sequence[str],
    *,
    budget: int = 1000,
    config: LoreConfig | None = None,
    char: str = "Marta",
    user: str = "Rook",
    speaker: str | None = None,
) -> LoreActivation:
    """The full activation (scan, macros, budget) with one token per word."""
    sources = [LoreSource(CompiledBook(b), char) for b in books]
    return await activate_lore(
        sources,
        turns,
        user=user,
        config=config or LoreConfig(),
        budget=budget,
        count_many=words,
        speaker=speaker,
    )
