"""Closing the in-process engine while rounds still queue work on it (the bot stopping)."""

from __future__ import annotations

import asyncio

import pytest

from bot.engine.base import EngineError, GenerationRequest, Prompt, Sampler
from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.settings import bundled_demo_model

pytestmark = pytest.mark.model


async def test_work_queued_behind_close_is_refused_not_run_on_the_freed_model() -> None:
    engine = await LlamaEngine.load(LlamaOptions(model_path=bundled_demo_model(), n_ctx=512))
    request = GenerationRequest(Prompt.plain("Once upon a time"), Sampler(max_tokens=8, seed=1))
    running = asyncio.create_task(engine.complete(request))
    await asyncio.sleep(0)  # its generation is on the worker (or queued first)
    closing = asyncio.create_task(engine.close())
    await asyncio.sleep(0)
    # Queued after close: on the freed model this crashed the whole process.
    late = asyncio.create_task(engine.complete(request))
    await closing
    with pytest.raises(EngineError, match="closed"):
        await late
    # Work queued before the close was refused too, or had finished: never a crash.
    try:
        await running
    except EngineError as exc:
        assert "closed" in str(exc)
