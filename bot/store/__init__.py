"""Persistence: ORM models, the async database and the store classes."""

from .characters import CharacterStore
from .database import Database, failure_reason
from .errors import (
    DatabaseUnreachable,
    DuplicateMessageError,
    DuplicateNameError,
    NotFoundError,
    StoreError,
)
from .migrate import alembic_config, current_revision, downgrade, upgrade
from .models import (
    Base,
    CastMember,
    Character,
    GuildConfig,
    PlayerBinding,
    PlayerDefault,
    Scene,
    Turn,
    TurnMessage,
)
from .scenes import SceneStore
from .stores import Stores
from .turns import TurnLine, TurnStore

__all__ = [
    "Base",
    "CastMember",
    "Character",
    "CharacterStore",
    "Database",
    "DatabaseUnreachable",
    "DuplicateMessageError",
    "DuplicateNameError",
    "GuildConfig",
    "NotFoundError",
    "PlayerBinding",
    "PlayerDefault",
    "Scene",
    "SceneStore",
    "StoreError",
    "Stores",
    "Turn",
    "TurnLine",
    "TurnMessage",
    "TurnStore",
    "alembic_config",
    "current_revision",
    "downgrade",
    "failure_reason",
    "upgrade",
]
