"""The GPU check's report: one JSON file with every figure, one Markdown page to read."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["headline", "read_steps", "render_markdown", "write_report"]

JSON_NAME = "gpu_check.json"
MARKDOWN_NAME = "gpu_check.md"
MIB = 1024**2


def read_steps(path: Path | None) -> list[dict[str, Any]]:
    """The JSON lines scripts/gpu_check.sh wrote, one per step; [] when there are none."""
    if path is None or not path.is_file():
        return []
    steps = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            steps.append(json.loads(line))
    return steps


def _ratio(top: Any, bottom: Any) -> float | None:
    if not isinstance(top, int | float) or not isinstance(bottom, int | float) or bottom <= 0:
        return None
    return round(top / bottom, 4)


def headline(caps: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the first cap measured on the GPU (the card's free memory, when listed)."""
    for cap in caps:
        if cap.get("round_tg_tps") is not None:
            return {
                "cap_mb": cap.get("cap_mb"),
                "gpu_tg_ratio": _ratio(cap.get("round_tg_tps"), cap.get("bench_tg_tps")),
                "gpu_pp_ratio": _ratio(cap.get("cold_pp_tps"), cap.get("bench_pp_tps")),
                "ttft_cold_s": cap.get("cold_ttft_s"),
                "ttft_warm_s": cap.get("warm_ttft_s"),
                "prompt_tokens": cap.get("prompt_tokens"),
            }
    return {}


def with_ratios(cap: dict[str, Any]) -> dict[str, Any]:
    """A cap's figures with its two ratios to llama-bench added."""
    return {
        **cap,
        "gpu_tg_ratio": _ratio(cap.get("round_tg_tps"), cap.get("bench_tg_tps")),
        "gpu_pp_ratio": _ratio(cap.get("cold_pp_tps"), cap.get("bench_pp_tps")),
    }


def _num(value: Any, digits: int = 2, unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}{unit}"


def _mib(value: Any) -> str:
    return "–" if not isinstance(value, int | float) else f"{value / MIB:,.0f} MiB"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _cap_name(cap: dict[str, Any]) -> str:
    return "card's free memory" if cap.get("cap_mb") is None else f"{cap['cap_mb']} MiB"


def render_markdown(figures: dict[str, Any]) -> str:
    """The report page: what ran, how long each step took, the split and speed under each cap."""
    meta = figures.get("meta", {})
    lines = ["# GPU check", ""]
    for key, value in meta.items():
        lines.append(f"- {key}: {_cell(value)}")
    top = figures.get("headline") or headline(figures.get("caps", []))
    if top:
        lines += [
            "",
            "## Headline",
            "",
            f"- gpu_tg_ratio (director round generation vs llama-bench tg): "
            f"{_num(top.get('gpu_tg_ratio'), 3)}",
            f"- gpu_pp_ratio (cold prompt vs llama-bench pp): {_num(top.get('gpu_pp_ratio'), 3)}",
            f"- first token on a {top.get('prompt_tokens')}-token channel: "
            f"cold {_num(top.get('ttft_cold_s'), 3, ' s')}, "
            f"warm {_num(top.get('ttft_warm_s'), 3, ' s')}",
        ]
    lines += ["", "## Steps", "", "| step | wall time | result |", "| --- | ---: | --- |"]
    for step in figures.get("steps", []):
        result = "ok" if step.get("ok") else "FAILED"
        lines.append(f"| {step.get('step')} | {_num(step.get('seconds'), 0, ' s')} | {result} |")
    lines += [
        "",
        "## Under each GPU_MEMORY_LIMIT_MB",
        "",
        "| cap | layers | VRAM used / planned / budget | within cap | cold / warm first token "
        "| round tg | llama-bench tg | tg ratio | pp ratio |",
        "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for raw in figures.get("caps", []):
        cap = with_ratios(raw)
        used = f"{_mib(cap.get('used_bytes'))} / {_mib(cap.get('planned_bytes'))}"
        used += f" / {_mib(cap.get('budget_bytes'))}"
        within = "–" if "within_cap" not in cap else ("yes" if cap["within_cap"] else "NO")
        lines.append(
            f"| {_cap_name(cap)} | {cap.get('n_gpu_layers', '–')} | {used} | {within} | "
            f"{_num(cap.get('cold_ttft_s'), 3, ' s')} / {_num(cap.get('warm_ttft_s'), 3, ' s')} | "
            f"{_num(cap.get('round_tg_tps'), 1)} | {_num(cap.get('bench_tg_tps'), 1)} | "
            f"{_num(cap.get('gpu_tg_ratio'), 3)} | {_num(cap.get('gpu_pp_ratio'), 3)} |"
        )
        notes.append(f"- {_cap_name(cap)}: doctor said “{_cell(cap.get('reason', '–'))}”")
        for problem in cap.get("problems", []):
            notes.append(f"  - {_cell(problem)}")
    if notes:
        lines += ["", "## What doctor said, and problems", "", *notes]
    return "\n".join(lines) + "\n"


def write_report(figures: dict[str, Any], out: Path) -> list[Path]:
    """Write gpu_check.json and gpu_check.md into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    full = {**figures, "caps": [with_ratios(cap) for cap in figures.get("caps", [])]}
    full["headline"] = headline(full["caps"])
    json_path, md_path = out / JSON_NAME, out / MARKDOWN_NAME
    json_path.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(full), encoding="utf-8")
    return [json_path, md_path]
