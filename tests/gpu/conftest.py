"""Tiny synthesized models, written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench.gpu.synth import TINY, ModelShape, write_model

# Eight layers, so that caps between none and all of them fit can be tried one by one.
EIGHT = ModelShape("eight", 8, 256, 512, 4, 2, 64, 512, context_length=4096, rope_theta=1e4)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gpu") / "tiny-q8_0.gguf"
    write_model(path, TINY)
    return path


@pytest.fixture(scope="session")
def eight_layer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gpu") / "eight-q8_0.gguf"
    write_model(path, EIGHT)
    return path
