"""Whose story so far a round brings up to date: the shared one, and each NPC's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.director import CastMember
from bot.store import PUBLIC, SHARED_VIEW, NewChapter, StorySummary, view_key


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
    `begins` is the seq of the last turn the view's chapters cover (its story starts after it),
    and `inherits` the shared chapters a view forking from the shared story takes as its own.
    """

    key: str
    witness: int
    start: StorySummary | None
    stored: StorySummary | None
    begins: int = 0
    inherits: tuple[NewChapter, ...] = ()

    @property
    def through(self) -> int:
        """The seq of the newest turn `start` covers, or the chapters do if it has none."""
        # After a GM clears the story so far, its chapters still cover what they cover.
        return max(self.start.through if self.start else 0, self.begins)

    @property
    def forks(self) -> bool:
        """Whether this step starts the view's own story from the shared one."""
        return self.start is not None and self.stored is None


def shared_step(shared: StorySummary | None, begins: int = 0) -> ViewStep:
    """The story everyone shares: written from what anyone could see (no whispers or tells)."""
    return ViewStep(SHARED_VIEW, PUBLIC, shared, shared, begins)


async def own_steps(
    turns: OwnViews,
    scene_id: int,
    cast: Sequence[CastMember],
    stored: dict[str, StorySummary],
    boundary: int,
    ends: dict[str, int] | None = None,
) -> list[ViewStep]:
    """A step for each NPC of `cast` whose view of the turns before `boundary` is its own.

    An NPC with a story of its own goes on with it. One whose view just came to differ starts
    from the shared story (as stored before this round) if that story ends before the first
    turn it saw otherwise, and from nothing if not. Any other NPC shares the shared story.
    `ends`: the last turn each view's chapters cover; one with chapters of its own goes on
    after them, and one forking from the shared story starts after the shared chapters.
    """
    ends = ends or {}
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
            steps.append(ViewStep(key, character, own, own, ends.get(key, 0)))
        elif key in ends:  # its story was cleared: it goes on after its own chapters
            steps.append(ViewStep(key, character, None, None, ends[key]))
        elif await turns.has_own_view(scene_id, character, boundary - 1):
            fork = shared
            if shared is not None and await turns.has_own_view(scene_id, character, shared.through):
                fork = None  # the shared story tells of turns it missed, or lacks its secrets
            begins = ends.get(SHARED_VIEW, 0) if fork is not None else 0
            steps.append(ViewStep(key, character, fork, None, begins))
    return steps
