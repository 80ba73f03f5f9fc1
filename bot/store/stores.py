"""The stores as one bundle, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from .chapters import ChapterStore
from .characters import CharacterStore
from .database import Database
from .lore import LoreStore
from .recall import RecallStore
from .scenes import SceneStore
from .state import StateStore
from .summaries import SummaryStore
from .turns import TurnStore


@dataclass(frozen=True)
class Stores:
    """Every store over one database: characters, scenes, turns, lore, summaries, state, recall.

    And chapters, the closed parts of the summaries.
    """

    characters: CharacterStore
    scenes: SceneStore
    turns: TurnStore
    lore: LoreStore
    summaries: SummaryStore
    state: StateStore
    recall: RecallStore
    chapters: ChapterStore

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
            RecallStore(db),
            ChapterStore(db),
        )
