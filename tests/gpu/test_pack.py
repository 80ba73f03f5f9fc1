"""The pack: the sdist files the CUDA build keeps, the wheels, the size limit, the manifest."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from bot.bench.gpu import pack

REPO = Path(__file__).resolve().parents[2]
TOP = "llama_cpp_python-0.3.36"
KEPT = [
    "CMakeLists.txt",
    "pyproject.toml",
    "README.md",
    "llama_cpp/__init__.py",
    "vendor/llama.cpp/CMakeLists.txt",
    "vendor/llama.cpp/ggml/src/ggml-cuda/mmq.cu",
    "vendor/llama.cpp/ggml/src/ggml-cuda/template-instances/fattn-vec-f16.cu",
    "vendor/llama.cpp/ggml/src/ggml-cpu/ggml-cpu.c",
    "vendor/llama.cpp/tools/llama-bench/llama-bench.cpp",
    "vendor/llama.cpp/tools/quantize/quantize.cpp",
    "vendor/llama.cpp/tools/mtmd/CMakeLists.txt",  # tools/ adds it even when unused
    "vendor/llama.cpp/vendor/miniaudio/miniaudio.h",
]
DROPPED = [
    "docs/index.md",
    "tests/test_llama.py",
    "vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf",
    "vendor/llama.cpp/docs/build.md",
    "vendor/llama.cpp/examples/simple/simple.cpp",
    "vendor/llama.cpp/tests/test-backend-ops.cpp",
    "vendor/llama.cpp/ggml/src/ggml-vulkan/ggml-vulkan.cpp",
    "vendor/llama.cpp/ggml/src/ggml-metal/ggml-metal.m",
    "vendor/llama.cpp/tools/server/server.cpp",
    "vendor/llama.cpp/tools/ui/index.html",
    "vendor/llama.cpp/.git/HEAD",
    "llama_cpp/__pycache__/x.pyc",
    "vendor/llama.cpp/media/llama.png",
    "vendor/llama.cpp/some/where/vocab.gguf",
]


@pytest.mark.parametrize("path", KEPT)
def test_what_the_cuda_build_reads_is_kept(path: str) -> None:
    assert pack.keep_source_path(path)


@pytest.mark.parametrize("path", DROPPED)
def test_what_it_never_reads_is_dropped(path: str) -> None:
    assert not pack.keep_source_path(path)


def _fake_sdist(path: Path) -> None:
    with tarfile.open(path, "w:gz") as sdist:
        for name in [*KEPT, *DROPPED]:
            data = f"contents of {name}\n".encode() * 50
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))


def test_the_slim_archive_holds_exactly_the_kept_files(tmp_path: Path) -> None:
    _fake_sdist(tmp_path / "sdist.tar.gz")
    result = pack.write_slim_source(tmp_path / "sdist.tar.gz", tmp_path / "slim.tar.xz")
    with tarfile.open(result.path) as slim:
        names = sorted(m.name for m in slim.getmembers() if m.isfile())
    assert names == sorted(f"src/{name}" for name in KEPT)
    assert (result.kept_files, result.dropped_files) == (len(KEPT), len(DROPPED))
    assert not (tmp_path / "slim.tar.xz.partial").exists()


def test_the_size_check_refuses_a_pack_over_its_limit() -> None:
    sizes = {
        "wheels/numpy.whl": 16 * pack.MIB,
        "wheels/a.whl": pack.MIB,
        "src.tar.xz": 3 * pack.MIB,
    }
    assert pack.check_size(sizes, 20 * pack.MIB) == 20 * pack.MIB
    with pytest.raises(pack.PackError, match=r"20\.0 MiB, over its 19 MiB limit") as error:
        pack.check_size(sizes, 19 * pack.MIB)
    assert "wheels/numpy.whl 16.0 MiB" in str(error.value)


def test_the_manifest_lists_the_pack_and_its_total(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "a.whl").write_bytes(b"x" * 1000)
    (tmp_path / "slim.tar.xz").write_bytes(b"y" * 24)
    total = pack.write_manifest(tmp_path, version="0.3.36", limit_bytes=pack.MIB, python="cp312")
    manifest = json.loads((tmp_path / pack.MANIFEST_NAME).read_text())
    assert total == manifest["total_bytes"] == 1024
    assert manifest["files"] == {"slim.tar.xz": 24, "wheels/a.whl": 1000}
    with pytest.raises(pack.PackError):
        pack.write_manifest(tmp_path, version="0.3.36", limit_bytes=1000, python="cp312")


def test_the_wheels_are_our_dependencies_but_llama_cpp_python_and_both_build_backends(
    tmp_path: Path,
) -> None:
    llama = (
        '[build-system]\nrequires = ["scikit-build-core[pyproject]>=0.9.2"]\n'
        '[project]\ndependencies = ["numpy>=1.20.0", "jinja2>=2.11.3"]\n'
    )
    wanted = pack.wheel_requirements(REPO / "pyproject.toml", llama)
    names = [pack._requirement_name(req) for req in wanted]
    assert "llama-cpp-python" not in names
    assert {"discord-py", "gguf", "nvidia-ml-py", "numpy", "jinja2", "scikit-build-core"} <= set(
        names
    )
    assert "setuptools" in names and len(names) == len(set(wanted))


def test_a_pack_made_here_is_complete_and_under_the_limit() -> None:
    manifest_path = REPO / "gpu_pack" / pack.MANIFEST_NAME
    if not manifest_path.is_file():
        pytest.skip("no gpu_pack/ here (scripts/gpu_check.sh pack makes one)")
    manifest = json.loads(manifest_path.read_text())
    files = manifest["files"]
    assert manifest["total_bytes"] == sum(files.values()) <= manifest["limit_bytes"]
    assert manifest["limit_bytes"] <= pack.CARRY_LIMIT_BYTES
    assert pack.SLIM_SOURCE_NAME in files
    wheels = [name for name in files if name.endswith(".whl")]
    assert not any("llama_cpp_python" in name for name in wheels)
    compiled = [name for name in wheels if "-cp312-" in name]
    assert compiled and all("x86_64" in name for name in compiled)
    for needed in ("numpy", "pydantic_core", "nvidia_ml_py", "gguf", "scikit_build_core"):
        assert any(name.startswith(f"wheels/{needed}-") for name in wheels), needed
