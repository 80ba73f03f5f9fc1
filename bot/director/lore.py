"""The lore of the next prompt, within what the history can spare."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from bot.director.budget import TokenCounter
from bot.director.mechanics import system_block
from bot.director.types import SceneView, StoredTurn
from bot.lore.placement import LoreActivation, activate_lore
from bot.prompts import is_ooc

log = logging.getLogger(__name__)


async def fired_lore(
    scene: SceneView,
    newest: Sequence[StoredTurn],
    room: int,
    counter: TokenCounter,
    *,
    speaker: str | None = None,
) -> LoreActivation:
    """The scene's entries that fire for the next prompt, in the spec's placement.

    `newest` are the latest stored turns (oldest first), `room` what the system block leaves,
    `speaker` who speaks in the prompt (None: nobody, as in the speaker choice); entries whose
    character filter does not admit the speaker stay out.
    Lore counts against the history, never the context: it gets at most half of that room, so
    the newest turns always keep space.
    """
    if not scene.lore.sources:
        return LoreActivation(refused=scene.lore.refused)
    activation = await activate_lore(
        scene.lore.sources,
        [f"{t.speaker}: {t.content}" for t in newest if not is_ooc(t.content)],
        user=scene.lore.user,
        config=scene.lore.config,
        budget=max(0, min(scene.lore.config.budget, room // 2)),
        count_many=counter.counts,
        scene_turns=newest[-1].seq if newest else 0,
        speaker=speaker,
    )
    return replace(activation, refused=scene.lore.refused) if scene.lore.refused else activation


async def lore_tokens(scene: SceneView, lore: LoreActivation, counter: TokenCounter) -> int:
    """Tokens of the system block with `lore` in it, and of lore's blocks in the history."""
    fmt, ctx = scene.fmt, scene.context
    system = system_block(scene, replace(ctx, lore_before=lore.before, lore_after=lore.after))
    blocks = [system, *(fmt.separator + fmt.lore_block(i) for i in lore.inserts)]
    return sum(await counter.counts(blocks))


class ShortfallLog:
    """Logs once per scene and book that the lore time budget left entries undecided.

    The GM sees the entries in `/scene prompt`; the log tells the admin which book to look at,
    without a line on every prompt while the book stays attached.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._told: OrderedDict[tuple[int, str], None] = OrderedDict()

    def note(self, scene_id: int, lore: LoreActivation) -> None:
        """Log the books of `lore` that ran out of time, unless already told for this scene."""
        counts: dict[str, int] = {}
        for entry in lore.unevaluated:
            counts[entry.book] = counts.get(entry.book, 0) + 1
        for book, count in counts.items():
            if (scene_id, book) in self._told:
                continue
            self._told[scene_id, book] = None
            if len(self._told) > self.capacity:
                self._told.popitem(last=False)
            log.warning(
                "scene %d: lorebook %r ran out of its lore time budget; %d entries were not "
                "evaluated (/scene prompt names them)",
                scene_id,
                book,
                count,
            )
