"""`tavernkeep bench` with BACKEND=llama-server: the remote figures, printed side by side."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from statistics import median

from rich.console import Console
from rich.table import Table

from bot.bench.remote import REMOTE_FULL, REMOTE_QUICK, RemoteBench, RemoteFigures
from bot.bench.report import number, seconds, verdict
from bot.core import open_core, sampler_from
from bot.engine.base import EngineError
from bot.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "llama_server.sh"
# Issue #10's targets: the bot costs ≤ 5 % over a direct request, keeps the server's batching
# (≤ 1.1 x its own parallel figure) and a warm channel's first token is ≤ 0.15 of a cold one.
OVERHEAD_TARGET, PARALLEL_SLACK, WARM_TARGET = 1.05, 1.1, 0.15
# Four slots of 8,192 tokens each (the demo model's trained context, the bot's default N_CTX):
# the KV cache is split per slot, so each channel keeps its history and /props reports 8,192.
SERVE_ARGS = ("-c", "32768", "-np", "4")  # after the script's own flags


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[Settings]:
    """The cached llama-server started on the configured model; settings pointing at it."""
    folder = Path(tempfile.mkdtemp(prefix="tavernkeep-bench-server-"))
    slots = folder / "slots"
    slots.mkdir()
    args = [str(SCRIPT), "start", str(folder), *SERVE_ARGS, "--slot-save-path", str(slots)]
    if settings.model_path is not None:
        args += ["-m", str(settings.model_path)]
    started = subprocess.run(args, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise EngineError(f"could not start llama-server: {started.stderr.strip()[-400:]}")
    url = next(
        line.split("=", 1)[1]
        for line in started.stdout.splitlines()
        if line.startswith("export TAVERNKEEP_TEST_LLAMA_SERVER_URL=")
    )
    try:
        yield settings.model_copy(update={"backend": "llama-server", "backend_url": url})
    finally:
        subprocess.run([str(SCRIPT), "stop", str(folder)], capture_output=True, check=False)


async def run_remote_bench(
    settings: Settings, *, quick: bool, json_path: Path | None, serve: bool, console: Console
) -> int:
    """Measure the remote figures against llama-server and print them."""
    with contextlib.ExitStack() as stack:
        if serve:
            settings = stack.enter_context(served(settings))
        figures = await _measure(settings, quick, console)
    report = {**figures.ratios(), **_medians(figures)}
    console.print(_table(figures))
    for line in figures.notes:
        console.print(f"[yellow]{line}[/]")
    if json_path is not None:
        meta = {"profile": "quick" if quick else "full", "served": serve}
        json_path.write_text(json.dumps({**report, "meta": meta}, indent=2) + "\n")
        console.print(f"figures written to {json_path}")
    return 0


async def _measure(settings: Settings, quick: bool, console: Console) -> RemoteFigures:
    sizes = REMOTE_QUICK if quick else REMOTE_FULL
    with tempfile.TemporaryDirectory(prefix="tavernkeep-bench-") as tmp:
        scratch = settings.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"}
        )
        core = await open_core(scratch)
        try:
            sampler = sampler_from(scratch)
            bench = RemoteBench(core, sizes, sampler, lambda line: console.print(f"  {line}"))
            console.print("[bold]seeding four channels[/]")
            # Four alike channels for the parallel figure: one much longer channel would make
            # the figure hang on which request the server happens to take first.
            channels = [
                await bench.channels.new_channel(2 + i, sizes.history_tokens) for i in range(4)
            ]
            for channel in channels:  # every channel takes its slot and caches its prompt
                await bench.round(channel)
            console.print("[bold]overhead: director round vs direct request[/]")
            await bench.overhead(channels[0])
            console.print("[bold]four channels at once vs one after another[/]")
            await bench.parallel(channels)
            console.print("[bold]first token: warm channel vs its slot erased[/]")
            warm = await bench.channels.new_channel(1, sizes.warm_history_tokens)
            busy = channels[:3]
            # The warm channel takes the slot of the one left out; the busy ones keep theirs.
            for channel in (warm, *busy):
                await bench.round(channel)
            await bench.warm(warm, busy)
            return bench.figures
        finally:
            await core.close()


def _medians(figures: RemoteFigures) -> dict[str, float]:
    samples = {
        "remote_round_s": figures.round_s,
        "remote_direct_s": figures.direct_s,
        "parallel_s": figures.parallel_s,
        "serial_s": figures.serial_s,
        "server_parallel_s": figures.server_parallel_s,
        "server_serial_s": figures.server_serial_s,
        "remote_ttft_warm_s": figures.warm_ttft_s,
        "remote_ttft_cold_s": figures.cold_ttft_s,
    }
    return {key: median(values) for key, values in samples.items() if values}


def _table(figures: RemoteFigures) -> Table:
    ratios, medians = figures.ratios(), _medians(figures)
    server = ratios["server_parallel_ratio"]
    rows = [
        ("director round vs direct request", "remote_round_s", "remote_direct_s",
         "remote_overhead_ratio", OVERHEAD_TARGET),
        ("4 channels' rounds at once vs in turn", "parallel_s", "serial_s",
         "parallel_ratio", round(server * PARALLEL_SLACK, 2) if server else None),
        ("4 direct requests at once vs in turn (the server)", "server_parallel_s",
         "server_serial_s", "server_parallel_ratio", None),
        ("first token: warm vs cold, 3 channels busy", "remote_ttft_warm_s",
         "remote_ttft_cold_s", "remote_warm_ratio", WARM_TARGET),
    ]  # fmt: skip
    table = Table(
        title="Tavernkeep bench: llama-server",
        caption="medians; each ratio is the median of every repeat's own ratio",
    )
    for column in ("figure", "bot / warm", "baseline", "ratio", "target"):
        table.add_column(column)
    for label, top, bottom, key, target in rows:
        value = ratios[key]
        mark = "" if target is None else verdict(value, target)
        table.add_row(
            label, seconds(medians.get(top)), seconds(medians.get(bottom)), number(value, 2), mark
        )
    return table
