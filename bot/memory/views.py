"""Whose story so far a round brings up to date: the shared one, and each NPC's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.director import CastMember
from bot.store import PUBLIC, SHARED_VIEW, StorySummary, view_key


class OwnViews(Protocol):
    """The part of the turn store that says whose view differs from the shared one."""

    async def has_own_view(self, scene_id: int, character_id: int, through_seq: int) -> bool: ...


def character_of(key: str) -> int | None:
    """The character whose own story `key` is (the inverse of `view_key`); None if no one's."""
    digits = key[1:]
    if not digits.isdecimal() or view_key(int(digits)) != key:
        return None
    return int(digits)


@dataclass(frozen=True)
class ViewStep:
    """One view's summary step: its key, whose turns it reads, and the summary it continues.

    `start` is the text the step rewrites (the view's own, the shared one it forks from, or
    none); `stored` is what the store must still hold for the step's write to go through.
    """

    key: str
    witness: int
    start: StorySummary | None
    stored: StorySummary | None

    @property
    def through(self) -> int:
        """The seq of the newest turn `start` covers."""
        return self.start.through if self.start else 0


def shared_step(shared: StorySummary | None) -> ViewStep:
    """The story everyone shares: written from what anyone could see (no whispers or tells)."""
    return ViewStep(SHARED_VIEW, PUBLIC, shared, shared)


async def own_steps(
    turns: OwnViews,
    scene_id: int,
    cast: Sequence[CastMember],
    stored: dict[str, StorySummary],
    boundary: int,
) -> list[ViewStep]:
    """A step for each NPC of `cast` whose view of the turns before `boundary` is its own.

    An NPC with a story of its own goes on with it. One whose view just came to differ starts
    from the shared story (as stored before this round) if that story ends before the first
    turn it saw otherwise, and from nothing if not. Any other NPC shares the shared story.
    """
    shared = stored.get(SHARED_VIEW)
    steps: list[ViewStep] = []
    seen: set[int] = set()
    for member in cast:
        character = member.character_id
        if character is None or character in seen:
            continue
        seen.add(character)
        key = view_key(character)
        own = stored.get(key)
        if own is not None:
            steps.append(ViewStep(key, character, own, own))
        elif await turns.has_own_view(scene_id, character, boundary - 1):
            fork = shared
            if shared is not None and await turns.has_own_view(scene_id, character, shared.through):
                fork = None  # the shared story tells of turns it missed, or lacks its secrets
            steps.append(ViewStep(key, character, fork, None))
    return steps
