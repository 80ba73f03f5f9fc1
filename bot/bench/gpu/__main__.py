"""`python -m bot.bench.gpu`: the Python steps of scripts/gpu_check.sh."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.bench.gpu import pack
from bot.bench.gpu.cuda import cuda_cmake_args
from bot.errors import UserError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.gpu")
    sub = parser.add_subparsers(dest="command", required=True)
    slim = sub.add_parser("slim", help="write the slim llama.cpp source of an sdist")
    slim.add_argument("sdist", type=Path)
    slim.add_argument("target", type=Path)
    reqs = sub.add_parser("requirements", help="print the wheels the pack needs")
    reqs.add_argument("pyproject", type=Path)
    reqs.add_argument("sdist", type=Path)
    manifest = sub.add_parser("manifest", help="check the pack's size and write its manifest")
    manifest.add_argument("folder", type=Path)
    manifest.add_argument("--version", required=True)
    manifest.add_argument("--limit-mb", type=int, default=pack.DEFAULT_PACK_LIMIT_BYTES // pack.MIB)
    cmake = sub.add_parser("cmake-args", help="print CMAKE_ARGS for a compute capability")
    cmake.add_argument("--cc", required=True, help="compute capability, e.g. 9.0")
    cmake.add_argument("--cpu-args", default="")
    synth = sub.add_parser("synth", help="write a random-weight GGUF of a real model's shape")
    synth.add_argument("target", type=Path)
    synth.add_argument("--shape", default="nemo12b")
    measure = sub.add_parser("measure", help="measure the offload under each cap (GPU machine)")
    measure.add_argument("--model", type=Path, required=True)
    measure.add_argument("--llama-bench", type=Path, required=True)
    measure.add_argument("--tavernkeep", type=Path, required=True)
    measure.add_argument("--caps", default="none,12288,8192,640")
    measure.add_argument("--steps", type=Path)
    measure.add_argument("--out", type=Path, required=True)
    measure.add_argument("--seconds-left", type=float, default=300.0)
    cap = sub.add_parser("cap", help="one cap's load and rounds (run by measure)")
    cap.add_argument("--model", type=Path, required=True)
    cap.add_argument("--cap", type=int)
    cap.add_argument("--json", type=Path, required=True)
    cap.add_argument("--database", type=Path, required=True)
    report = sub.add_parser("report", help="write the report of the steps alone")
    report.add_argument("--steps", type=Path)
    report.add_argument("--out", type=Path, required=True)
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "slim":
        result = pack.write_slim_source(args.sdist, args.target)
        print(
            f"kept {result.kept_files} files ({result.kept_bytes / pack.MIB:.1f} MiB), dropped "
            f"{result.dropped_files} ({result.dropped_bytes / pack.MIB:.1f} MiB); "
            f"{args.target.stat().st_size / pack.MIB:.1f} MiB compressed",
            file=sys.stderr,
        )
    elif args.command == "requirements":
        lines = pack.wheel_requirements(args.pyproject, pack.sdist_pyproject(args.sdist))
        print("\n".join(lines))
    elif args.command == "manifest":
        total = pack.write_manifest(
            args.folder,
            version=args.version,
            limit_bytes=args.limit_mb * pack.MIB,
            python="cp312-manylinux-x86_64",
        )
        print(total)
    elif args.command == "cmake-args":
        print(" ".join(cuda_cmake_args(args.cc, args.cpu_args)))
    elif args.command == "synth":
        from bot.bench.gpu.synth import SHAPES, write_model

        if args.shape not in SHAPES:
            raise UserError(f"unknown shape {args.shape!r}: one of {', '.join(SHAPES)}")
        write_model(args.target, SHAPES[args.shape])
    elif args.command == "measure":
        from bot.bench.gpu.measure import MeasureOptions, measure

        options = MeasureOptions(
            model=args.model,
            llama_bench=args.llama_bench,
            tavernkeep=args.tavernkeep,
            caps=args.caps,
            steps=args.steps,
            out=args.out,
            seconds_left=args.seconds_left,
        )
        return measure(options)
    elif args.command == "cap":
        from bot.bench.gpu.cap import measure_cap

        figures = asyncio.run(measure_cap(args.model, args.cap, args.database))
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    elif args.command == "report":
        from bot.bench.gpu.report import read_steps, write_report

        figures = {"steps": read_steps(args.steps), "caps": []}
        paths = write_report(figures, args.out)
        print(json.dumps([str(path) for path in paths]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; a UserError is one line and exit status 2."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except UserError as exc:
        print(f"gpu check: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
