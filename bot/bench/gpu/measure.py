"""The GPU check's measurements: for each GPU_MEMORY_LIMIT_MB cap, doctor's plan, the bot's load
and rounds in a fresh process (so each cap starts from the same free VRAM), and llama-bench on
the same model, layers, batch and depth. This process never touches CUDA itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bench.gpu.cap import N_CTX
from bot.bench.gpu.report import read_steps, write_report
from bot.engine.gpu import GpuInfo, detect_gpus
from bot.engine.offload import DEFAULT_RESERVE_BYTES, capped_vram_bytes, resolve_gpu_layers
from bot.errors import UserError

CAP_TIMEOUT_S = 300.0
BENCH_TIMEOUT_S = 180.0
DOCTOR_TIMEOUT_S = 120.0
MIN_SECONDS_PER_CAP = 45.0  # a load, a 4,000-token prompt and a few rounds
BENCH_GEN_TOKENS = 64


@dataclass(frozen=True)
class MeasureOptions:
    """What `python -m bot.bench.gpu measure` was given."""

    model: Path
    llama_bench: Path
    tavernkeep: Path
    caps: str
    steps: Path | None
    out: Path
    seconds_left: float


def parse_caps(text: str) -> list[int | None]:
    """`none,12288,8192` -> [None, 12288, 8192] (None: the card's free memory)."""
    caps: list[int | None] = []
    for part in text.split(","):
        word = part.strip().lower()
        if word in ("none", "free"):
            caps.append(None)
        elif word.isdigit() and int(word) > 0:
            caps.append(int(word))
        elif word:
            raise UserError(f"a cap is a number of MiB or none, not {part.strip()!r}")
    return caps


def bench_args(model: Path, layers: int, prompt_tokens: int, cap: dict[str, Any]) -> list[str]:
    """llama-bench on what the bot ran: pp of the cold prompt from empty, tg at its depth."""
    return [
        "-m", str(model),
        "-ngl", str(99 if layers < 0 else layers),
        "-p", str(prompt_tokens),
        "-n", str(BENCH_GEN_TOKENS),
        "-d", f"0,{prompt_tokens}",
        "-b", str(cap.get("n_batch", 512)),
        "-ub", str(cap.get("n_batch", 512)),
        "-fa", "1" if cap.get("flash_attn") else "0",
        "-ctk", str(cap.get("kv_cache_type", "f16")),
        "-ctv", str(cap.get("kv_cache_type", "f16")),
        *(["-t", str(cap["threads"])] if cap.get("threads") else []),
        "-r", "2",
        "-o", "json",
    ]  # fmt: skip


def parse_bench(text: str) -> tuple[float | None, float | None]:
    """(pp tok/s from empty, tg tok/s at the deepest depth) from llama-bench's JSON output."""
    rows = json.loads(text[text.find("[") :])
    pp = [r["avg_ts"] for r in rows if r["n_prompt"] and not r["n_gen"] and not r["n_depth"]]
    tg = sorted((r["n_depth"], r["avg_ts"]) for r in rows if r["n_gen"] and not r["n_prompt"])
    return (pp[0] if pp else None), (tg[-1][1] if tg else None)


def _run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f} s"
    return done.returncode, done.stdout + done.stderr


def _doctor(options: MeasureOptions, cap_mb: int | None, database: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "GPU_MEMORY_LIMIT_MB"}
    env.update(
        MODEL_PATH=str(options.model),
        N_GPU_LAYERS="auto",
        N_CTX=str(N_CTX),
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        COLUMNS="220",
    )
    if cap_mb is not None:
        env["GPU_MEMORY_LIMIT_MB"] = str(cap_mb)
    return _run([str(options.tavernkeep), "doctor"], DOCTOR_TIMEOUT_S, env)


def _plan(options: MeasureOptions, cap_mb: int | None, gpus: list[GpuInfo]) -> dict[str, Any]:
    free = sum(gpu.free_bytes for gpu in gpus)
    decision = resolve_gpu_layers(
        "auto",
        model_path=options.model,
        n_ctx=N_CTX,
        gpus=gpus,
        supports_offload=True,
        memory_limit_mb=cap_mb,
    )
    needed = decision.plan.vram_needed_bytes if decision.plan and decision.n_gpu_layers else 0
    return {
        "cap_mb": cap_mb,
        "free_before_bytes": free,
        "budget_bytes": capped_vram_bytes(free, cap_mb),
        "planned_bytes": needed + DEFAULT_RESERVE_BYTES * len(gpus) if needed else 0,
        "reserve_bytes": DEFAULT_RESERVE_BYTES * len(gpus),
        "n_gpu_layers": decision.n_gpu_layers,
        "reason": decision.reason,
        "problems": [],
    }


def measure_one(options: MeasureOptions, cap_mb: int | None, seconds: float) -> dict[str, Any]:
    """Doctor, the bot's load and rounds, and llama-bench under one cap."""
    gpus = detect_gpus()
    result = _plan(options, cap_mb, gpus)
    problems: list[str] = result["problems"]
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        code, text = _doctor(options, cap_mb, Path(tmp) / "doctor.db")
        result.update(doctor_exit=code, doctor=text[-4000:])
        if code != 0:
            problems.append(f"tavernkeep doctor exited {code}")
        if result["n_gpu_layers"] == 0:
            result["cpu_only"] = True
            return result
        figures = Path(tmp) / "cap.json"
        args = [sys.executable, "-m", "bot.bench.gpu", "cap", "--model", str(options.model)]
        args += ["--json", str(figures), "--database", str(Path(tmp) / "cap.db")]
        args += ["--cap", str(cap_mb)] if cap_mb is not None else []
        code, text = _run(args, min(CAP_TIMEOUT_S, seconds))
        if code != 0 or not figures.is_file():
            problems.append(f"the bot's run failed ({code}): {text[-1500:]}")
            return result
        result.update(json.loads(figures.read_text(encoding="utf-8")))
    _check_vram(result)
    if result.get("engine_layers") != result["n_gpu_layers"]:
        problems.append(
            f"the engine loaded n_gpu_layers={result.get('engine_layers')} but doctor planned "
            f"{result['n_gpu_layers']}: the cap does not reach the engine's load"
        )
    prompt = int(result.get("prompt_tokens") or 4000)
    args = [
        str(options.llama_bench),
        *bench_args(options.model, result["n_gpu_layers"], prompt, result),
    ]
    code, text = _run(args, BENCH_TIMEOUT_S)
    result["bench_args"] = args[1:]
    try:
        result["bench_pp_tps"], result["bench_tg_tps"] = parse_bench(text)
    except (ValueError, KeyError, TypeError):
        problems.append(f"llama-bench failed ({code}): {text[-1500:]}")
    return result


def _check_vram(result: dict[str, Any]) -> None:
    """What the bot's process took (free before it started minus the least free while it ran)."""
    seen = [result.get("free_after_load_bytes"), result.get("free_after_rounds_bytes")]
    lows = [value for value in seen if isinstance(value, int)]
    if not lows:
        return
    used = result["free_before_bytes"] - min(lows)
    result["used_bytes"] = used
    result["within_cap"] = used <= result["budget_bytes"]
    result["margin_left_bytes"] = result["budget_bytes"] - used
    if not result["within_cap"]:
        result["problems"].append(
            f"the process took {used / 2**20:.0f} MiB, over the "
            f"{result['budget_bytes'] / 2**20:.0f} MiB doctor planned within"
        )


def gpu_meta(options: MeasureOptions) -> dict[str, Any]:
    """The card, the driver and what was built, for the report's head."""
    code, text = _run(
        ["nvidia-smi", "--query-gpu=name,driver_version,compute_cap,memory.total",
         "--format=csv,noheader"],
        30,
    )  # fmt: skip
    meta: dict[str, Any] = {"gpu": text.strip() if code == 0 else f"nvidia-smi failed ({code})"}
    cmake_args = Path("cmake_args.txt")
    if cmake_args.is_file():
        meta["cmake_args"] = cmake_args.read_text(encoding="utf-8").strip()
    meta.update(model=str(options.model), model_bytes=options.model.stat().st_size, n_ctx=N_CTX)
    return meta


def measure(options: MeasureOptions) -> int:
    """Every cap in turn, the report rewritten after each; 1 when any cap had a problem."""
    deadline = time.monotonic() + options.seconds_left
    figures: dict[str, Any] = {
        "meta": gpu_meta(options),
        "steps": read_steps(options.steps),
        "caps": [],
    }
    for cap_mb in parse_caps(options.caps):
        left = deadline - time.monotonic()
        if left < MIN_SECONDS_PER_CAP:
            figures["caps"].append({"cap_mb": cap_mb, "problems": ["skipped: out of time"]})
            continue
        figures["caps"].append(measure_one(options, cap_mb, left))
        write_report(figures, options.out)
    write_report(figures, options.out)
    return 1 if any(cap["problems"] for cap in figures["caps"]) else 0
