"""How many model layers to offload to the GPU: pure arithmetic plus the `auto` resolver.

llama.cpp semantics this follows: the repeating layers offloaded are the *last* `n_gpu_layers`
blocks, each bringing its share of the KV cache; the token embedding always stays in RAM; the
output layer (output norm + output matrix, a copy of the token embedding for tied-embedding
models) is offloaded as layer number `n_layers + 1`, so only when `n_gpu_layers > n_layers`.
A plan that fits completely therefore returns `-1` ("all", which llama-cpp-python passes on as
INT_MAX) rather than `n_layers + 1`; a partial plan returns 0..n_layers and keeps the output on
the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.engine.gpu import GpuInfo, detect_gpus, llama_supports_gpu_offload
from bot.engine.model_info import read_model_info

__all__ = [
    "DEFAULT_RESERVE_BYTES",
    "KV_TYPE_BYTES",
    "OffloadDecision",
    "OffloadPlan",
    "capped_vram_bytes",
    "format_bytes",
    "kv_cache_bytes_per_layer",
    "plan_offload",
    "resolve_gpu_layers",
]

MIB = 1024**2
GIB = 1024**3
# CUDA context, cuBLAS workspace and llama.cpp's compute buffers live outside the weights.
DEFAULT_RESERVE_BYTES = 512 * MIB

# Bytes per cached element: ggml block size / elements per block (q8_0: 34/32, q4_0: 18/32, ...).
KV_TYPE_BYTES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}


@dataclass(frozen=True)
class OffloadPlan:
    """Result of `plan_offload`; `n_gpu_layers` is the value to give llama.cpp."""

    n_gpu_layers: int
    fits_fully: bool
    vram_needed_bytes: int
    reason: str
    layers_on_gpu: int = 0


@dataclass(frozen=True)
class OffloadDecision:
    """The `n_gpu_layers` to load a model with and a sentence explaining why."""

    n_gpu_layers: int
    reason: str
    plan: OffloadPlan | None = None


def format_bytes(n: int | float) -> str:
    """Human-readable size in MiB below 1 GiB, else GiB with one decimal."""
    return f"{n / GIB:.1f} GiB" if abs(n) >= GIB else f"{n / MIB:.0f} MiB"


def kv_cache_bytes_per_layer(
    *, n_ctx: int, n_kv_heads: int, head_dim_k: int, head_dim_v: int, bytes_per_element: float = 2.0
) -> int:
    """Bytes of K plus V cache one layer needs for `n_ctx` tokens."""
    if min(n_ctx, n_kv_heads, head_dim_k, head_dim_v) < 0 or bytes_per_element < 0:
        raise ValueError("KV cache dimensions must not be negative")
    return math.ceil(n_ctx * n_kv_heads * (head_dim_k + head_dim_v) * bytes_per_element)


def plan_offload(
    *,
    n_layers: int,
    layer_bytes: int,
    non_layer_bytes: int,
    kv_bytes_per_layer: int,
    free_vram_bytes: int,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    output_bytes: int = 0,
) -> OffloadPlan:
    """Offload as many layers (weights + KV share) as fit in free VRAM minus the reserve.

    `output_bytes` is what the output layer puts in VRAM on full offload; 0 (unknown) counts all
    of `non_layer_bytes` instead, erring on the safe side. `vram_needed_bytes` excludes the reserve.
    """
    if min(n_layers, layer_bytes, non_layer_bytes, kv_bytes_per_layer, reserve_bytes) < 0:
        raise ValueError("layer counts and sizes must not be negative")
    usable = max(0, free_vram_bytes - reserve_bytes)
    per_layer = layer_bytes + kv_bytes_per_layer
    full = n_layers * per_layer + (output_bytes or non_layer_bytes)
    if full <= usable:
        reason = (
            f"all {n_layers} layers and the output layer fit: {format_bytes(full)} "
            f"of {format_bytes(usable)} usable VRAM"
        )
        return OffloadPlan(-1, True, full, reason, layers_on_gpu=n_layers)
    count = n_layers if per_layer == 0 else min(n_layers, usable // per_layer)
    needed = count * per_layer
    each = f"{format_bytes(per_layer)} per layer with its KV cache"
    if count == 0:
        reason = f"no layer fits in {format_bytes(usable)} usable VRAM ({each})"
    elif count == n_layers:
        reason = (
            f"all {n_layers} layers but not the output layer fit: {format_bytes(needed)} "
            f"of {format_bytes(usable)} usable VRAM ({each})"
        )
    else:
        reason = (
            f"{count} of {n_layers} layers fit: {format_bytes(needed)} "
            f"of {format_bytes(usable)} usable VRAM ({each})"
        )
    return OffloadPlan(count, False, needed, reason, layers_on_gpu=count)


def capped_vram_bytes(free_bytes: int, memory_limit_mb: int | None) -> int:
    """The VRAM `auto` may plan with: the free memory, or less under GPU_MEMORY_LIMIT_MB."""
    if memory_limit_mb is None:
        return free_bytes
    if memory_limit_mb < 0:
        raise ValueError("GPU_MEMORY_LIMIT_MB must not be negative")
    return min(free_bytes, memory_limit_mb * MIB)


def _parse_setting(setting: str | int) -> int | None:
    """None for `auto`, else the layer count (-1 = all)."""
    text = str(setting).strip().lower()
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -2
    if value < -1:
        raise ValueError(f"N_GPU_LAYERS must be auto, -1, 0 or a layer count, not {setting!r}")
    return value


def resolve_gpu_layers(
    setting: str | int,
    *,
    model_path: str | Path,
    n_ctx: int,
    kv_cache_type: str = "f16",
    gpus: Sequence[GpuInfo] | None = None,
    supports_offload: bool | None = None,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    memory_limit_mb: int | None = None,
) -> OffloadDecision:
    """Turn an N_GPU_LAYERS setting (auto, -1, 0, N) into a layer count for this model and machine.

    Explicit values pass through (N above the layer count means all); any offload on a CPU-only
    build becomes 0. `auto` sums free VRAM over all NVIDIA GPUs (llama.cpp splits layers across
    them) with a reserve per GPU, and is 0 when none is found; `memory_limit_mb`
    (GPU_MEMORY_LIMIT_MB) caps that sum, reserve included. `gpus`/`supports_offload` default
    to detecting them. Raises ModelInfoError for an unreadable model, ValueError for bad settings.
    """
    value = _parse_setting(setting)
    try:
        per_element = KV_TYPE_BYTES[kv_cache_type.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown KV cache type {kv_cache_type!r}") from None
    # Reading GGUF metadata costs seconds on large vocabularies: skip it when nothing offloads.
    if value == 0:
        return OffloadDecision(0, "N_GPU_LAYERS=0: running every layer on the CPU")
    if supports_offload is None:
        supports_offload = llama_supports_gpu_offload()
    if not supports_offload:
        return OffloadDecision(0, "CPU-only llama.cpp build: running every layer on the CPU")
    info = read_model_info(model_path)
    n = info.n_layers
    if value == -1:
        return OffloadDecision(-1, f"N_GPU_LAYERS=-1: offloading all {n} layers and the output")
    if value is not None:
        if value > n:
            reason = f"N_GPU_LAYERS={value} exceeds the {n} layers: offloading all and the output"
            return OffloadDecision(-1, reason)
        return OffloadDecision(value, f"N_GPU_LAYERS={value}: offloading {value} of {n} layers")

    gpus = list(detect_gpus() if gpus is None else gpus)
    if not gpus:
        return OffloadDecision(
            0, f"auto: no NVIDIA GPU found: running all {n} layers on the CPU (set N_GPU_LAYERS)"
        )
    n_ctx = n_ctx if n_ctx > 0 else info.context_length  # llama.cpp: 0 = trained context
    kv = kv_cache_bytes_per_layer(
        n_ctx=n_ctx,
        n_kv_heads=info.n_kv_heads,
        head_dim_k=info.head_dim_k,
        head_dim_v=info.head_dim_v,
        bytes_per_element=per_element,
    )
    free = sum(gpu.free_bytes for gpu in gpus)
    budget = capped_vram_bytes(free, memory_limit_mb)
    plan = plan_offload(
        n_layers=n,
        # Quantization mixes make some layers larger; sizing by the largest avoids running out.
        layer_bytes=info.max_layer_bytes,
        non_layer_bytes=info.non_layer_bytes,
        kv_bytes_per_layer=kv,
        free_vram_bytes=budget,
        reserve_bytes=reserve_bytes * len(gpus),
        output_bytes=info.output_bytes,
    )
    names = (
        gpus[0].name if len(gpus) == 1 else f"{len(gpus)} GPUs ({', '.join(g.name for g in gpus)})"
    )
    where = f"{format_bytes(free)} free on {names} (n_ctx {n_ctx}, {kv_cache_type} KV cache)"
    if budget < free:
        where = f"GPU_MEMORY_LIMIT_MB={memory_limit_mb} of the {where}"
        if not plan.layers_on_gpu:
            needed = reserve_bytes * len(gpus) + info.max_layer_bytes + kv
            reason = (
                f"auto: GPU_MEMORY_LIMIT_MB={memory_limit_mb} is too small for one layer and its "
                f"KV cache at n_ctx {n_ctx} ({format_bytes(needed)} with the reserve): running "
                f"all {n} layers on the CPU (raise the cap or lower N_CTX)"
            )
            return OffloadDecision(0, reason, plan)
    if plan.fits_fully:
        reason = f"auto: all {n} layers and the output fit in {where}"
    elif plan.layers_on_gpu == n:
        reason = f"auto: all {n} layers but not the output fit in {where}"
    elif plan.layers_on_gpu:
        reason = f"auto: {plan.layers_on_gpu} of {n} layers fit in {where}"
    else:
        reason = f"auto: no layer fits in {where}: running all {n} layers on the CPU"
    return OffloadDecision(plan.n_gpu_layers, reason, plan)
