"""GPU_MEMORY_LIMIT_MB: the VRAM `auto` plans with, the layers a cap buys, the too-small line."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bot.doctor import run_doctor
from bot.engine.gpu import GpuInfo
from bot.engine.model_info import read_model_info
from bot.engine.offload import (
    DEFAULT_RESERVE_BYTES,
    capped_vram_bytes,
    kv_cache_bytes_per_layer,
    resolve_gpu_layers,
)
from bot.settings import SettingsError, load_settings

MIB = 1024**2
N_CTX = 2048
H100 = GpuInfo(0, "NVIDIA H100", 80 * 1024 * MIB, 79 * 1024 * MIB)


def test_capped_vram_is_the_smaller_of_free_and_cap() -> None:
    assert capped_vram_bytes(8000 * MIB, None) == 8000 * MIB
    assert capped_vram_bytes(8000 * MIB, 4096) == 4096 * MIB
    assert capped_vram_bytes(3000 * MIB, 4096) == 3000 * MIB
    with pytest.raises(ValueError):
        capped_vram_bytes(3000 * MIB, -1)


def _per_layer(model: Path) -> int:
    info = read_model_info(model)
    kv = kv_cache_bytes_per_layer(
        n_ctx=N_CTX, n_kv_heads=info.n_kv_heads, head_dim_k=info.head_dim_k,
        head_dim_v=info.head_dim_v,
    )  # fmt: skip
    return info.max_layer_bytes + kv


def _auto(model: Path, cap_mb: int | None) -> tuple[int, str]:
    decision = resolve_gpu_layers(
        "auto",
        model_path=model,
        n_ctx=N_CTX,
        gpus=[H100],
        supports_offload=True,
        reserve_bytes=0,
        memory_limit_mb=cap_mb,
    )
    return decision.n_gpu_layers, decision.reason


def test_each_cap_buys_the_layers_that_fit_with_their_kv_cache(eight_layer_model: Path) -> None:
    per_layer = _per_layer(eight_layer_model)
    # The layers here are KiB, so the cap is raised a MiB at a time until each count appears.
    seen = {}
    for cap_mb in range(1, 64):
        layers, reason = _auto(eight_layer_model, cap_mb)
        seen.setdefault(layers, (cap_mb, reason))
        expected = min(8, cap_mb * MIB // per_layer)
        assert layers in (expected, -1), (cap_mb, reason)
        if layers == 0:
            assert f"GPU_MEMORY_LIMIT_MB={cap_mb} is too small for one layer" in reason
        elif layers != -1:
            assert f"GPU_MEMORY_LIMIT_MB={cap_mb} of the 79.0 GiB free" in reason
    assert 0 in seen and -1 in seen  # from nothing to everything and the output
    assert len([layers for layers in seen if 0 < layers < 8]) >= 3  # partial splits between


def test_without_a_cap_auto_plans_with_all_free_memory(eight_layer_model: Path) -> None:
    layers, reason = _auto(eight_layer_model, None)
    assert layers == -1
    assert "GPU_MEMORY_LIMIT_MB" not in reason
    assert _auto(eight_layer_model, 200 * 1024) == (
        layers,
        reason,
    )  # a cap above free changes nothing


def test_a_cap_too_small_for_one_layer_says_so_in_one_line(tiny_model: Path) -> None:
    decision = resolve_gpu_layers(
        "auto",
        model_path=tiny_model,
        n_ctx=N_CTX,
        gpus=[H100],
        supports_offload=True,
        memory_limit_mb=DEFAULT_RESERVE_BYTES // MIB,
    )
    assert decision.n_gpu_layers == 0
    assert decision.reason.startswith("auto: GPU_MEMORY_LIMIT_MB=512 is too small for one layer")
    assert "at n_ctx 2048" in decision.reason and "raise the cap or lower N_CTX" in decision.reason
    assert "\n" not in decision.reason


def test_the_cap_leaves_explicit_layer_counts_alone(tiny_model: Path) -> None:
    decision = resolve_gpu_layers(
        "1", model_path=tiny_model, n_ctx=N_CTX, gpus=[H100], supports_offload=True,
        memory_limit_mb=1,
    )  # fmt: skip
    assert decision.n_gpu_layers == 1


def test_the_setting() -> None:
    assert load_settings().gpu_memory_limit_mb is None
    assert load_settings(gpu_memory_limit_mb="8192").gpu_memory_limit_mb == 8192
    with pytest.raises(SettingsError, match="GPU_MEMORY_LIMIT_MB"):
        load_settings(gpu_memory_limit_mb=0)


async def test_doctor_prints_the_cap_in_use(tiny_model: Path, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    settings = load_settings(
        model_path=tiny_model,
        gpu_memory_limit_mb=8192,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}",
    )
    await run_doctor(settings, console)
    text = console.export_text()
    assert "GPU_MEMORY_LIMIT_MB" in text and "8192 MiB (8.0 GiB) at most for auto's plan" in text
    unset = load_settings(model_path=tiny_model, database_url=settings.database_url)
    console = Console(record=True, width=200)
    await run_doctor(unset, console)
    assert "unset: auto may plan with all the free VRAM" in console.export_text()
