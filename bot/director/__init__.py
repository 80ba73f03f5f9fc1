"""The turn director: budgeted prompts, speaker choice, rounds, swipes and continues."""

from bot.director.director import TurnDirector
from bot.director.types import (
    CastMember,
    DirectorError,
    GenerationFailed,
    PromptPlan,
    RoundHooks,
    RoundResult,
    SceneView,
    StoredTurn,
)

__all__ = [
    "CastMember",
    "DirectorError",
    "GenerationFailed",
    "PromptPlan",
    "RoundHooks",
    "RoundResult",
    "SceneView",
    "StoredTurn",
    "TurnDirector",
]
