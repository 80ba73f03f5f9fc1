"""NVIDIA GPU discovery (NVML, else `nvidia-smi`) and llama.cpp offload support."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["GpuInfo", "detect_gpus", "llama_supports_gpu_offload", "parse_nvidia_smi"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
NVIDIA_SMI_ARGS = (
    "--query-gpu=index,name,memory.total,memory.free",
    "--format=csv,noheader,nounits",
)


@dataclass(frozen=True)
class GpuInfo:
    """One GPU with its total and currently free memory."""

    index: int
    name: str
    total_bytes: int
    free_bytes: int


def detect_gpus() -> list[GpuInfo]:
    """List NVIDIA GPUs via NVML, else `nvidia-smi`; [] when there is no driver. Never raises."""
    try:
        gpus = _from_nvml()
    except Exception as exc:  # missing library, no driver, driver/library mismatch, ...
        log.debug("NVML unavailable: %s", exc)
        gpus = []
    if gpus:
        return gpus
    try:
        return _from_nvidia_smi()
    except Exception as exc:
        log.debug("nvidia-smi unavailable: %s", exc)
        return []


def _from_nvml() -> list[GpuInfo]:
    """Query every device through pynvml (nvidia-ml-py)."""
    import pynvml

    pynvml.nvmlInit()
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):  # older nvidia-ml-py releases return bytes
                name = name.decode(errors="replace")
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(GpuInfo(index, str(name), int(memory.total), int(memory.free)))
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _from_nvidia_smi() -> list[GpuInfo]:
    """Run `nvidia-smi` and parse its CSV output."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    done = subprocess.run(
        [exe, *NVIDIA_SMI_ARGS], capture_output=True, text=True, timeout=15, check=False
    )
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """Parse `index, name, memory.total, memory.free` CSV lines (MiB); skips unreadable lines."""
    gpus = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) < 4:
            continue
        try:
            index, total, free = int(cells[0]), int(cells[-2]), int(cells[-1])
        except ValueError:  # "[N/A]" or a warning line
            continue
        gpus.append(GpuInfo(index, ", ".join(cells[1:-2]), total * MIB, free * MIB))
    return gpus


def llama_supports_gpu_offload() -> bool:
    """Whether the installed llama.cpp build can offload layers to a GPU."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:  # not installed, or the shared library failed to load
        log.debug("llama_cpp offload check failed: %s", exc)
        return False
