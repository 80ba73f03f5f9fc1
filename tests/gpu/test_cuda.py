"""The CMake arguments of the CUDA build, from the compute capability nvidia-smi prints."""

from __future__ import annotations

import pytest

from bot.bench.gpu.cuda import CudaArchError, cuda_arch, cuda_cmake_args


@pytest.mark.parametrize(
    ("capability", "arch"),
    [
        ("9.0", "90-real"),
        ("8.6", "86-real"),
        ("8.9", "89-real"),
        ("12.0", "120-real"),
        (" 7.5\n", "75-real"),
    ],
)
def test_one_architecture_for_the_card(capability: str, arch: str) -> None:
    assert cuda_arch(capability) == arch
    args = cuda_cmake_args(capability)
    assert [a for a in args if "ARCHITECTURES" in a] == [f"-DCMAKE_CUDA_ARCHITECTURES={arch}"]
    assert "-DGGML_CUDA=ON" in args and "-DLLAVA_BUILD=OFF" in args


def test_the_portable_cpu_flags_follow() -> None:
    args = cuda_cmake_args("9.0", "-DGGML_NATIVE=OFF -DGGML_AVX2=ON")
    assert args[-2:] == ["-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON"]


@pytest.mark.parametrize("capability", ["", "9", "sm_90", "9.0.1", "[N/A]", "3.5"])
def test_what_is_not_a_usable_capability_is_refused(capability: str) -> None:
    with pytest.raises(CudaArchError):
        cuda_arch(capability)
