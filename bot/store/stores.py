"""The stores as one bundle, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from .characters import CharacterStore
from .database import Database
from .lore import LoreStore
from .scenes import SceneStore
from .state import StateStore
from .summaries import SummaryStore
from .turns import TurnStore


@dataclass(frozen=True)
class Stores:
    """Characters, scenes, turns, lorebooks, summaries and tracked state over one database."""

    characters: CharacterStore
    scenes: SceneStore
    turns: TurnStore
    lore: LoreStore
    summaries: SummaryStore
    state: StateStore

    @classmethod
    def over(cls, db: Database) -> Stores:
        """Every store on `db`."""
        return cls(
            CharacterStore(db),
            SceneStore(db),
            TurnStore(db),
            LoreStore(db),
            SummaryStore(db),
            StateStore(db),
        )
