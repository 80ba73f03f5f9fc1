"""BACKEND=openai on llama-cpp-python's own server (`python -m llama_cpp.server`), demo model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import pytest_asyncio

from bot.director import TurnDirector
from bot.engine.base import Prompt, Sampler
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.recording import RecordingEngine
from bot.engine.remote import RemoteOptions, connect_remote
from bot.engine.remote.openai import OpenAIEngine
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import EXAMPLE_SCENE, load_scene_file
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.engine.remote.conftest import demo_model

pytestmark = pytest.mark.model

NPCS = ("Marta Vell", "Old Tobin", "Sergeant Hale")


@pytest_asyncio.fixture
async def engine(llama_cpp_server_url: str) -> AsyncIterator[OpenAIEngine]:
    options = RemoteOptions(backend="openai", url=llama_cpp_server_url, n_ctx=2048)
    connected = await connect_remote(options)
    assert isinstance(connected, OpenAIEngine)
    try:
        yield connected
    finally:
        await connected.close()


async def test_the_server_is_recognised_with_its_grammar_and_tokenizer(
    engine: OpenAIEngine,
) -> None:
    assert engine.info.server == "llama-cpp-python server"
    assert engine.info.constraint == "GBNF grammar" and engine.info.prompt == "text"
    assert (engine.n_ctx, engine.parallel) == (2048, 1)
    # /extras/tokenize adds BOS where the model wants one; block counts leave it out, so they
    # match the in-process engine's on the same (defused) text.
    blocks = [Prompt.plain("The fog rolls in."), Prompt.special("<|im_start|>user\n") + "Hi"]
    local = await LlamaEngine.load(LlamaOptions(model_path=demo_model(), vocab_only=True))
    try:
        assert await engine.count_many(blocks) == await local.count_many(blocks)
    finally:
        await local.close()


async def test_rounds_on_llama_cpp_pythons_server_keep_to_the_grammar(
    engine: OpenAIEngine, db: Database
) -> None:
    stores = Stores.over(db)
    scene, _ = await import_scene_file(stores, load_scene_file(EXAMPLE_SCENE), "chatml")
    recorder = RecordingEngine(engine)
    director = TurnDirector(recorder, stores.turns)
    produced = []
    for seed in range(2):
        await stores.turns.append(scene.id, role="user", speaker="Ilse", content="Well?")
        sampler = Sampler(seed=seed, max_tokens=24)
        view = replace(await SceneViews(stores, sampler).view(scene), max_replies=2)
        produced += (await director.run_round(view)).turns
    assert produced and all(t.speaker in NPCS for t in produced)
    constrained = [c for c in recorder.calls if c.request.choices]
    assert constrained, recorder.calls
    for call in constrained:
        assert call.completion.text in call.request.choices, call.completion.text
