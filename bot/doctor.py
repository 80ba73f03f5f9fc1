"""`tavernkeep doctor`: what this machine and configuration can do."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bot.engine.gpu import detect_gpus, llama_supports_gpu_offload
from bot.engine.llama import llama_cpp_version
from bot.engine.model_info import ModelInfoError, read_model_info
from bot.engine.offload import format_bytes, resolve_gpu_layers
from bot.settings import Settings, SettingsError
from bot.store import Database


async def run_doctor(settings: Settings, console: Console) -> int:
    """Print a report; exit status 1 when something needed to run is broken."""
    table = Table(title="Tavernkeep doctor", show_header=False)
    table.add_column("check", style="bold")
    table.add_column("result")
    ok = True
    offload = llama_supports_gpu_offload()
    table.add_row("llama.cpp", f"llama-cpp-python {llama_cpp_version()}")
    table.add_row(
        "GPU offload",
        "supported by this build" if offload else "not in this build (CPU only; see README: CUDA)",
    )
    gpus = detect_gpus()
    table.add_row(
        "GPUs",
        "\n".join(
            f"#{g.index} {g.name}: {format_bytes(g.free_bytes)} free"
            f" of {format_bytes(g.total_bytes)}"
            for g in gpus
        )
        or "none found (no NVIDIA driver / NVML)",
    )
    try:
        model_path = settings.resolved_model_path()
        info = read_model_info(model_path)
        table.add_row(
            "model",
            f"{info.name} ({info.architecture}) at {model_path}\n"
            f"{info.n_layers} layers, trained context {info.context_length}, "
            f"vocabulary {info.vocab_size}, {format_bytes(info.file_bytes)}",
        )
        decision = resolve_gpu_layers(
            settings.n_gpu_layers,
            model_path=model_path,
            n_ctx=settings.n_ctx,
            kv_cache_type=settings.kv_cache_type,
            gpus=gpus,
            supports_offload=offload,
        )
        table.add_row(f"N_GPU_LAYERS={settings.n_gpu_layers}", decision.reason)
        if settings.n_ctx > info.context_length:
            table.add_row("N_CTX", f"{settings.n_ctx} is above the trained {info.context_length}")
    except (SettingsError, ModelInfoError, ValueError) as exc:
        ok = False
        table.add_row("model", f"[red]{exc}[/]")
    db: Database | None = None
    try:
        db = Database(settings.database_url)
        await db.ping()
        table.add_row("database", f"reachable: {db.engine.url.render_as_string()}")
    except Exception as exc:  # a missing driver or any connection error: report, do not crash
        ok = False
        table.add_row("database", f"[red]not reachable: {type(exc).__name__}: {exc}[/]")
    finally:
        if db is not None:
            await db.dispose()
    table.add_row(
        "discord token", "set" if settings.discord_token is not None else "not set (needed by run)"
    )
    console.print(table)
    return 0 if ok else 1
