"""The offline pack for the GPU check: which sdist files the CUDA build needs, which wheels, size.

`scripts/gpu_check.sh pack` runs this where PyPI is reachable; the GPU machine has no network, so
everything `run` installs or compiles travels in one folder that must stay under the carry limit.
"""

from __future__ import annotations

import json
import re
import tarfile
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.errors import UserError

MIB = 1024**2
# What one device run carries, checkout included; the pack leaves the checkout 4 MiB of it.
CARRY_LIMIT_BYTES = 64 * MIB
DEFAULT_PACK_LIMIT_BYTES = 60 * MIB
SLIM_SOURCE_NAME = "llama-cpp-python-slim.tar.xz"
MANIFEST_NAME = "manifest.json"

# Paths (relative to the sdist's top folder) that neither the wheel's CMake build with
# LLAVA_BUILD=OFF nor the llama-bench and llama-quantize targets read: documentation, tests,
# examples, vocab-only GGUFs, the web UI and server, and every non-CUDA GPU backend.
DROPPED_PREFIXES: tuple[str, ...] = (
    "docs/",
    "examples/",
    "tests/",
    "docker/",
    "scripts/",
    "vendor/llama.cpp/.github/",
    "vendor/llama.cpp/.devops/",
    "vendor/llama.cpp/app/",
    "vendor/llama.cpp/benches/",
    "vendor/llama.cpp/ci/",
    "vendor/llama.cpp/conversion/",
    "vendor/llama.cpp/docs/",
    "vendor/llama.cpp/examples/",
    "vendor/llama.cpp/gguf-py/",
    "vendor/llama.cpp/grammars/",
    "vendor/llama.cpp/media/",
    "vendor/llama.cpp/models/",
    "vendor/llama.cpp/pocs/",
    "vendor/llama.cpp/requirements/",
    "vendor/llama.cpp/scripts/",
    "vendor/llama.cpp/skills/",
    "vendor/llama.cpp/tests/",
    "vendor/llama.cpp/tools/cli/",
    "vendor/llama.cpp/tools/server/",
    "vendor/llama.cpp/tools/ui/",
    *(
        f"vendor/llama.cpp/ggml/src/ggml-{backend}/"
        for backend in (
            "cann",
            "et",
            "hexagon",
            "metal",
            "opencl",
            "openvino",
            "sycl",
            "virtgpu",
            "vulkan",
            "webgpu",
            "zdnn",
            "zendnn",
        )
    ),
)
DROPPED_SUFFIXES = (".gguf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".pdf")
DROPPED_NAMES = frozenset({".git", "__pycache__", ".DS_Store"})


class PackError(UserError):
    """The pack cannot be made or is too large; the message says which and by how much."""


def keep_source_path(relative: str) -> bool:
    """Whether a path inside the sdist (its top folder stripped) goes into the slim source."""
    path = PurePosixPath(relative)
    if any(part in DROPPED_NAMES for part in path.parts):
        return False
    text = path.as_posix()
    if any(text.startswith(prefix) or f"{text}/" == prefix for prefix in DROPPED_PREFIXES):
        return False
    return not text.lower().endswith(DROPPED_SUFFIXES)


def _strip_top(name: str) -> str:
    """`llama_cpp_python-0.3.36/vendor/x` -> `vendor/x` (an sdist has one top folder)."""
    return name.partition("/")[2]


@dataclass(frozen=True)
class SlimResult:
    """What went into the slim source archive."""

    path: Path
    kept_files: int
    dropped_files: int
    kept_bytes: int
    dropped_bytes: int


def slim_members(members: Iterable[tarfile.TarInfo]) -> Iterator[tarfile.TarInfo]:
    """The regular files and folders of an sdist that `keep_source_path` keeps."""
    for member in members:
        relative = _strip_top(member.name)
        if not relative or not (member.isfile() or member.isdir()):
            continue
        if keep_source_path(relative):
            yield member


def write_slim_source(sdist: Path, target: Path) -> SlimResult:
    """Copy the kept files of `sdist` (a .tar.gz) into `target` (.tar.xz, top folder `src/`)."""
    kept = dropped = kept_bytes = dropped_bytes = 0
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(sdist, "r:gz") as source, tarfile.open(partial, "w:xz") as slim:
        members = source.getmembers()
        keep = {member.name for member in slim_members(members)}
        for member in members:
            if not member.isfile():
                if member.name in keep:
                    slim.addfile(_renamed(member))
                continue
            if member.name not in keep:
                dropped, dropped_bytes = dropped + 1, dropped_bytes + member.size
                continue
            kept, kept_bytes = kept + 1, kept_bytes + member.size
            slim.addfile(_renamed(member), source.extractfile(member))
    partial.replace(target)
    return SlimResult(target, kept, dropped, kept_bytes, dropped_bytes)


def _renamed(member: tarfile.TarInfo) -> tarfile.TarInfo:
    copy = tarfile.TarInfo(f"src/{_strip_top(member.name)}")
    copy.size, copy.mode, copy.type, copy.mtime = member.size, member.mode, member.type, 0
    return copy


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else ""


def wheel_requirements(pyproject: Path, llama_pyproject_text: str) -> list[str]:
    """What `pip download` fetches: Tavernkeep's dependencies (llama-cpp-python's own instead of
    it, since that is built from source), and the backends both builds need offline."""
    ours = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    llama = tomllib.loads(llama_pyproject_text)
    wanted = [
        req
        for req in ours["project"]["dependencies"]
        if _requirement_name(req) != "llama-cpp-python"
    ]
    wanted += llama["project"]["dependencies"]
    wanted += ours["build-system"]["requires"] + llama["build-system"]["requires"]
    seen: set[str] = set()
    unique = []
    for req in wanted:
        if req not in seen:
            seen.add(req)
            unique.append(req)
    return unique


def sdist_pyproject(sdist: Path) -> str:
    """The top-level pyproject.toml of an sdist (.tar.gz)."""
    with tarfile.open(sdist, "r:gz") as source:
        for member in source:
            if member.isfile() and _strip_top(member.name) == "pyproject.toml":
                handle = source.extractfile(member)
                if handle is not None:
                    return handle.read().decode("utf-8")
    raise PackError(f"no pyproject.toml in {sdist}")


def folder_bytes(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its size, by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def check_size(sizes: dict[str, int], limit_bytes: int) -> int:
    """The pack's total; PackError naming the largest files when it is over `limit_bytes`."""
    total = sum(sizes.values())
    if total > limit_bytes:
        largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
        names = ", ".join(f"{name} {size / MIB:.1f} MiB" for name, size in largest)
        raise PackError(
            f"the pack is {total / MIB:.1f} MiB, over its {limit_bytes / MIB:.0f} MiB limit "
            f"(largest: {names})"
        )
    return total


def write_manifest(folder: Path, *, version: str, limit_bytes: int, python: str) -> int:
    """Check the pack's size and record what is in it; returns the total bytes."""
    sizes = folder_bytes(folder)
    sizes.pop(MANIFEST_NAME, None)
    total = check_size(sizes, limit_bytes)
    manifest = {
        "llama_cpp_python": version,
        "python": python,
        "total_bytes": total,
        "limit_bytes": limit_bytes,
        "files": sizes,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return total
