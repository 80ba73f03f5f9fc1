"""Persistence: ORM models, the async database and the store classes."""

from .chapters import Chapter, ChapterStore, NewChapter
from .characters import CharacterStore
from .database import Database, failure_reason
from .errors import (
    DatabaseUnreachable,
    DuplicateMessageError,
    DuplicateNameError,
    NotFoundError,
    StoreError,
)
from .lease import DatabaseLease
from .lore import LoreStore
from .migrate import alembic_config, current_revision, downgrade, upgrade
from .models import (
    Base,
    CastMember,
    Character,
    GuildConfig,
    PlayerBinding,
    PlayerDefault,
    Scene,
    SceneLorebook,
    SceneSummary,
    StateChange,
    StoredLorebook,
    StoredLoreEntry,
    Turn,
    TurnMessage,
    TurnRoll,
    TurnWitness,
)
from .scenes import SceneStore
from .state import HistoryEntry, StateStore
from .stores import Stores
from .summaries import SHARED_VIEW, StorySummary, SummaryStore, view_key
from .turn_reads import PUBLIC, TurnLine, Witness
from .turns import TurnStore

__all__ = [
    "PUBLIC",
    "SHARED_VIEW",
    "Base",
    "CastMember",
    "Chapter",
    "ChapterStore",
    "Character",
    "CharacterStore",
    "Database",
    "DatabaseLease",
    "DatabaseUnreachable",
    "DuplicateMessageError",
    "DuplicateNameError",
    "GuildConfig",
    "HistoryEntry",
    "LoreStore",
    "NewChapter",
    "NotFoundError",
    "PlayerBinding",
    "PlayerDefault",
    "Scene",
    "SceneLorebook",
    "SceneStore",
    "SceneSummary",
    "StateChange",
    "StateStore",
    "StoreError",
    "StoredLoreEntry",
    "StoredLorebook",
    "Stores",
    "StorySummary",
    "SummaryStore",
    "Turn",
    "TurnLine",
    "TurnMessage",
    "TurnRoll",
    "TurnStore",
    "TurnWitness",
    "Witness",
    "alembic_config",
    "current_revision",
    "downgrade",
    "failure_reason",
    "upgrade",
    "view_key",
]
