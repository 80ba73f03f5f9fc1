"""Dice and state for the channel runtime: resolvers for NPC markers, and storing what they did."""

from __future__ import annotations

import logging
import random
from typing import cast

from bot.channel.ports import Recorded
from bot.director import GeneratedTurn
from bot.state.rules import Change, check_edits
from bot.store import Stores, Turn

from .markers import SceneMarkers

log = logging.getLogger(__name__)


class SceneMechanics:
    """The `TurnMechanics` of a front end: markers resolved against the scene's stored state."""

    def __init__(self, stores: Stores, rng: random.Random | None = None) -> None:
        self.stores = stores
        self.rng = rng  # None: the operating system's randomness (a seed only in tests)

    async def characters(self, scene_id: int) -> dict[str, tuple[int, str]]:
        """The scene's player characters and NPCs: casefolded name → (id, name)."""
        found = await self.stores.scenes.characters(scene_id)
        return {c.name.casefold(): (c.id, c.name) for c in found}

    async def resolver(self, scene_id: int, *, without_turn: int | None = None) -> SceneMarkers:
        state = await self.stores.state.current(scene_id, without_turn=without_turn)
        return SceneMarkers(state, await self.characters(scene_id), self.rng)

    async def record(
        self, scene_id: int, generated: GeneratedTurn, *, fresh: bool = True
    ) -> Recorded:
        turn = cast(Turn, generated.turn)  # the store's turn: it knows its selected swipe
        changes: list[Change] = []
        if generated.edits:
            # Checked again against the state as stored: the turn keeps only what applies.
            characters = await self.characters(scene_id)
            by_name = {name: cid for name, (cid, _) in characters.items()}
            state = await self.stores.state.current(scene_id)
            changes, refused = check_edits(generated.edits, state, by_name)
            for reason in refused:
                log.info("turn %s: dropped a state change: %s", turn.id, reason)
        roll_ids, change_ids = await self.stores.state.record_turn(
            scene_id, turn.id, turn.swipe_index, generated.rolls, changes, fresh=fresh
        )
        return Recorded(roll_ids, change_ids)

    async def forget(self, recorded: Recorded) -> None:
        await self.stores.state.forget(recorded.roll_ids, recorded.change_ids)
