"""Hostile lorebooks for the budget, cap and stall tests: backtracking regex keys and the like."""

from __future__ import annotations

import json
from typing import Any

from bot.lore import CompiledBook, Lorebook, LoreEntry

# `(x|xx)+yN$` tries every split of a run of x's before it gives up: on BACKTRACKING_TURN each
# search would take far longer than the per-search timeout. N makes every key a different one.
BACKTRACKING_TURN = "Rook: " + "x" * 40


def backtracking_key(i: int) -> str:
    """A `/regex/` key that backtracks catastrophically on BACKTRACKING_TURN."""
    return f"/(x|xx)+y{i}$/"


def trap_entries(n: int) -> list[dict[str, Any]]:
    """`n` card-book entries, each keyed on a backtracking regex."""
    return [
        {"keys": [backtracking_key(i)], "content": f"Trap {i}.", "enabled": True, "extensions": {}}
        for i in range(n)
    ]


def hostile_card(n: int, name: str = "Mallory") -> dict[str, Any]:
    """A V2 card whose character_book holds `n` backtracking regex keys."""
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": name,
            "description": "A card built to freeze the bot.",
            "first_mes": "Hello.",
            "character_book": {"name": f"{name}'s book", "entries": trap_entries(n)},
        },
    }


def world_info_bytes(*entries: dict[str, Any]) -> bytes:
    """A SillyTavern World Info export with `entries` keyed by uid."""
    numbered = {str(i): {"uid": i, **e} for i, e in enumerate(entries)}
    return json.dumps({"entries": numbered}).encode()


def hostile_world_info(n: int) -> bytes:
    """A World Info file with `n` entries keyed on backtracking regexes."""
    return world_info_bytes(
        *({"key": [backtracking_key(i)], "content": f"Trap {i}."} for i in range(n))
    )


def trap_book(n: int, *extra: LoreEntry, name: str = "Traps") -> Lorebook:
    """A book as stored before the caps existed: `n` backtracking keys, then `extra` entries."""
    traps = (LoreEntry(keys=(backtracking_key(i),), content=f"Trap {i}.") for i in range(n))
    return Lorebook(entries=(*traps, *extra), name=name)


def compiled_traps(n: int, *extra: LoreEntry, name: str = "Traps") -> CompiledBook:
    """`trap_book`, compiled."""
    return CompiledBook(trap_book(n, *extra, name=name))
