"""The lore of the next prompt, within what the history can spare."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.director.budget import TokenCounter
from bot.director.types import SceneView, StoredTurn
from bot.lore.placement import LoreActivation, activate_lore
from bot.prompts import is_ooc


async def fired_lore(
    scene: SceneView, newest: Sequence[StoredTurn], room: int, counter: TokenCounter
) -> LoreActivation:
    """The scene's entries that fire for the next prompt, in the spec's placement.

    `newest` are the latest stored turns (oldest first), `room` what the system block leaves.
    Lore counts against the history, never the context: it gets at most half of that room, so
    the newest turns always keep space.
    """
    if not scene.lore.sources:
        return LoreActivation()
    return await activate_lore(
        scene.lore.sources,
        [f"{t.speaker}: {t.content}" for t in newest if not is_ooc(t.content)],
        user=scene.lore.user,
        config=scene.lore.config,
        budget=max(0, min(scene.lore.config.budget, room // 2)),
        count_many=counter.counts,
        scene_turns=newest[-1].seq if newest else 0,
    )


async def lore_tokens(scene: SceneView, lore: LoreActivation, counter: TokenCounter) -> int:
    """Tokens of the system block with `lore` in it, and of lore's blocks in the history."""
    fmt, ctx = scene.fmt, scene.context
    system = fmt.system_block(replace(ctx, lore_before=lore.before, lore_after=lore.after))
    blocks = [system, *(fmt.separator + fmt.lore_block(i) for i in lore.inserts)]
    return sum(await counter.counts(blocks))
