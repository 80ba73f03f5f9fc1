"""SillyTavern's extra activation rules: trigger chance, delay, and inclusion groups.

SillyTavern rolls dice for the chance and the group draws. Here every draw is seeded by the
entry (or group) and the newest turn the prompt sees, so the same turns always give the same
lore: a swipe or a rebuilt prompt matches the one before, and the prompt cache keeps working.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from .compiled import CompiledEntry

__all__ = ["Contender", "admitted", "group_losers"]


def _draw(*parts: object) -> random.Random:
    # A string seed is hashed with SHA-512: the same in every process, unlike hash().
    return random.Random("\x1f".join(str(p) for p in parts))


def admitted(entry: CompiledEntry, book: str, newest: str, scene_turns: int) -> bool:
    """Whether a matching entry goes in: the scene is past its delay and its chance comes up."""
    delay = entry.delay
    if delay is not None and scene_turns < delay:
        return False
    chance = entry.chance
    if chance >= 100:
        return True
    return chance > 0 and _draw(book, entry.index, newest).random() * 100 < chance


@dataclass(frozen=True)
class Contender:
    """An entry that fired, as inclusion groups see it."""

    key: tuple[int, int]  # (source, entry index)
    entry: CompiledEntry
    sticky: bool = False


def _winner(group: str, rivals: Sequence[Contender], newest: str) -> Contender:
    """Sticky entries keep their place; then prioritised ones by order; else a weighted draw."""
    for pool in (
        [c for c in rivals if c.sticky],
        [c for c in rivals if c.entry.entry.group_override],
    ):
        if pool:
            return max(pool, key=lambda c: c.entry.entry.insertion_order)
    weights = [c.entry.entry.group_weight for c in rivals]
    if not any(weights):
        return rivals[0]
    return _draw(group, newest).choices(rivals, weights=weights)[0]


def group_losers(fired: Sequence[Contender], newest: str) -> set[tuple[int, int]]:
    """The keys of entries that lose their inclusion group to another entry of it."""
    members: dict[str, list[Contender]] = {}
    for contender in fired:
        for group in contender.entry.groups:
            members.setdefault(group, []).append(contender)
    losers: set[tuple[int, int]] = set()
    for group, rivals in members.items():
        alive = [c for c in rivals if c.key not in losers]
        if len(alive) > 1:
            winner = _winner(group, alive, newest)
            losers.update(c.key for c in alive if c is not winner)
    return losers
