"""Dice and state markers on the real demo model: rounds run end to end, no marker left raw."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.director import MarkerOutcome, TurnDirector
from bot.director.mechanics import TEACHING, markers_in
from bot.domain import DiceRoll, Role
from bot.engine.base import Sampler
from bot.engine.llama import LlamaEngine
from bot.engine.recording import RecordingEngine
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.engine.test_model import N_CTX
from tests.engine.test_model import engine as engine  # the module's demo model, reused
from tests.scripted_engine import request_kind

pytestmark = pytest.mark.model


class AnyRoll:
    """Resolves every marker to a fixed-looking result and remembers what it wrote."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def resolve(self, marker: str) -> MarkerOutcome | None:
        text = f"[{marker}: 4]"
        self.written.append(text)
        return MarkerOutcome(text, roll=DiceRoll("1d20", 4, "4", marker))


@pytest.mark.asyncio(loop_scope="module")
async def test_rounds_with_mechanics_leave_only_resolved_markers(
    engine: LlamaEngine, db: Database
) -> None:
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "group-inst")
    # An example of each marker in the history, as a scene with mechanics would have them.
    history: tuple[tuple[str, Role, str], ...] = (
        ("Rook", "user", "I slip along the wall toward the gate. [roll 1d20+3 Stealth: 15]"),
        ("Sergeant Hale", "model", "Hale swings the pike. [roll 1d20+2 Attack: 17] [Rook HP -3]"),
        ("Rook", "user", "I grab the rope and jump for the boat!"),
    )
    for speaker, role, text in history:
        await stores.turns.append(scene.id, role=role, speaker=speaker, content=text)
    recorder = RecordingEngine(engine)
    director = TurnDirector(recorder, stores.turns)
    resolver = AnyRoll()
    view = await SceneViews(stores, Sampler()).view(await stores.scenes.get(scene.id))
    view = replace(
        view,
        sampler=Sampler(seed=11, max_tokens=64),
        max_replies=1,
        mechanics=True,
        resolver=resolver,
    )
    for npc in ("Sergeant Hale", "Marta Vell", "Old Tobin"):
        result = await director.run_round(view, forced=npc)
        for generated in result.generated:
            text = generated.turn.content
            assert all(m in resolver.written for m in markers_in(text)), text
            assert len(generated.rolls) == len(markers_in(text))
    texts = [c for c in recorder.calls if request_kind(c.request) == "text"]
    assert texts and all(c.request.stops[-1] == "]" for c in texts)
    assert all(TEACHING[:40] in c.request.prompt.text for c in texts)
    for call in recorder.calls:  # going on after a marker never asks past the context
        assert call.completion.prompt_tokens + call.request.sampler.max_tokens <= N_CTX
