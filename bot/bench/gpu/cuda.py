"""The CMake arguments of a CUDA build of llama.cpp for exactly the GPU at hand."""

from __future__ import annotations

import re
import shlex

from bot.errors import UserError

_CAPABILITY = re.compile(r"^\s*(\d{1,2})\.(\d)\s*$")


class CudaArchError(UserError):
    """A compute capability that is not `major.minor` (as `nvidia-smi` prints it)."""


def cuda_arch(capability: str) -> str:
    """`9.0` -> `90-real`: machine code for that GPU only, no PTX for others to JIT.

    Blackwell's `12.x` stays plain: ggml's CMake turns it into the `12xa` variant it needs.
    """
    match = _CAPABILITY.match(capability)
    if match is None:
        raise CudaArchError(f"not a compute capability: {capability!r} (expected e.g. 9.0)")
    major, minor = int(match.group(1)), int(match.group(2))
    if major < 5:
        raise CudaArchError(f"compute capability {capability} is older than CUDA 12 supports")
    return f"{major}{minor}-real"


def cuda_cmake_args(capability: str, cpu_args: str = "") -> list[str]:
    """CMAKE_ARGS for the llama-cpp-python wheel (and the tools built in its build folder).

    `cpu_args` are the portable CPU flags of scripts/llama_build.env: the layers left on the CPU
    must not use instructions (AMX under some hypervisors) that `-march=native` would pick.
    """
    return [
        "-DGGML_CUDA=ON",
        f"-DCMAKE_CUDA_ARCHITECTURES={cuda_arch(capability)}",
        "-DLLAVA_BUILD=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
        *shlex.split(cpu_args),
    ]
