"""The turn director: budgeted prompts, speaker choice, rounds, swipes and continues."""

from bot.director.director import TurnDirector
from bot.director.types import (
    CastMember,
    DirectorError,
    GeneratedTurn,
    GenerationFailed,
    MarkerOutcome,
    MarkerResolver,
    PromptPlan,
    RoundHooks,
    RoundResult,
    SceneView,
    StoredTurn,
)

__all__ = [
    "CastMember",
    "DirectorError",
    "GeneratedTurn",
    "GenerationFailed",
    "MarkerOutcome",
    "MarkerResolver",
    "PromptPlan",
    "RoundHooks",
    "RoundResult",
    "SceneView",
    "StoredTurn",
    "TurnDirector",
]
