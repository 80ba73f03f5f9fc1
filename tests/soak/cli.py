"""`tavernkeep bench --soak`: the soak harness run from the command line of a source checkout."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from rich.console import Console

from bot.bench.remote_run import served
from bot.settings import Settings
from tests.soak.harness import SoakConfig, run_soak
from tests.soak.report import render, shortfalls, write_json

STACKS_SHOWN = 3


async def run_soak_cli(
    settings: Settings,
    *,
    seconds: float,
    channels: int,
    players: int,
    json_path: Path | None,
    console: Console,
) -> int:
    """Soak llama-server at BACKEND_URL, or the cached one started like `bench --serve`."""
    config = SoakConfig(channels=channels, players=players, seconds=seconds)
    with contextlib.ExitStack() as stack:
        if settings.backend != "llama-server" or settings.backend_url is None:
            console.print("[bold]starting the cached llama-server (4 slots)[/]")
            settings = stack.enter_context(served(settings))
        assert settings.backend_url is not None  # served() always points at its server
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tavernkeep-soak-")))
        result = await run_soak(
            config, settings.backend_url, folder, lambda line: console.print(f"  {line}")
        )
    console.print(render(result))
    for line in shortfalls(result):
        console.print(f"[yellow]{line}[/]")
    for stack in result.watch.stall_stacks[:STACKS_SHOWN]:
        # The innermost frames say what held the loop; the JSON keeps more of each stack.
        console.print("[dim]where the event loop stalled:[/]\n" + "\n".join(stack[-4:]))
    if json_path is not None:
        write_json(result, json_path)
        console.print(f"figures written to {json_path}")
    return 0
