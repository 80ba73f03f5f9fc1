"""The VRAM cap reaches the offload plan the engine loads with, not only `doctor`."""

from __future__ import annotations

from typing import Any

import pytest

from bot import core
from bot.engine.offload import resolve_gpu_layers
from bot.settings import load_settings


def test_the_engine_plans_its_layers_under_gpu_memory_limit_mb(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def planned(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return resolve_gpu_layers(*args, **kwargs)

    monkeypatch.setattr(core, "resolve_gpu_layers", planned)
    core.llama_options(load_settings(gpu_memory_limit_mb=8192))
    assert seen["memory_limit_mb"] == 8192
