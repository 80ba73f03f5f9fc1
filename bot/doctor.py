"""`tavernkeep doctor`: what this machine and configuration can do."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from bot.domain import Sampler
from bot.engine.base import EngineError, GenerationRequest, Prompt
from bot.engine.gpu import detect_gpus, llama_supports_gpu_offload
from bot.engine.llama import llama_cpp_version
from bot.engine.model_info import ModelInfoError, read_model_info
from bot.engine.offload import format_bytes, resolve_gpu_layers
from bot.engine.remote import RemoteOptions, ServerInfo, connect_remote
from bot.engine.remote.http import safe_url
from bot.engine.routing import named_options
from bot.settings import Settings, SettingsError
from bot.store import Database, DatabaseLease


async def run_doctor(
    settings: Settings, console: Console, remote: RemoteOptions | None = None
) -> int:
    """Print a report; exit status 1 when something needed to run is broken."""
    table = Table(title="Tavernkeep doctor", show_header=False)
    table.add_column("check", style="bold")
    table.add_column("result")
    ok = await _remote_rows(table, remote) if remote is not None else _local_rows(table, settings)
    await _named_rows(table, settings)
    table.add_row("recall embeddings", _embed_text(settings))
    db: Database | None = None
    reachable = False
    try:
        db = Database(settings.database_url)
        await db.ping()
        reachable = True
        table.add_row("database", f"reachable: {db.engine.url.render_as_string()}")
    except Exception as exc:  # a missing driver or any connection error: report, do not crash
        ok = False
        table.add_row("database", f"[red]not reachable: {type(exc).__name__}: {exc}[/]")
    finally:
        if db is not None:
            await db.dispose()
    if reachable:
        table.add_row("running bot", await _lease_text(settings.database_url))
    table.add_row(
        "discord token", "set" if settings.discord_token is not None else "not set (needed by run)"
    )
    console.print(table)
    return 0 if ok else 1


async def _lease_text(url: str) -> str:
    """Which Tavernkeep runs on the database (holds its lease), if one does."""
    lease = DatabaseLease(url)
    if not lease.needed:
        return "none (an in-memory database belongs to one process)"
    try:
        holder = await lease.holder()
    except Exception as exc:  # the database row already says what is wrong with it
        return f"[yellow]unknown: {exc}[/]"
    return holder.describe() if holder else "none on this database"


def _local_rows(table: Table, settings: Settings) -> bool:
    """The in-process engine: llama.cpp build, GPUs, the model and its offload."""
    offload = llama_supports_gpu_offload()
    table.add_row("backend", "llama-cpp (in process)")
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
            memory_limit_mb=settings.gpu_memory_limit_mb,
        )
        table.add_row("GPU_MEMORY_LIMIT_MB", _limit_text(settings))
        table.add_row(f"N_GPU_LAYERS={settings.n_gpu_layers}", decision.reason)
        if settings.n_ctx > info.context_length:
            table.add_row("N_CTX", f"{settings.n_ctx} is above the trained {info.context_length}")
    except (SettingsError, ModelInfoError, ValueError) as exc:
        table.add_row("model", f"[red]{exc}[/]")
        return False
    return True


def _embed_text(settings: Settings) -> str:
    """Whether recall also searches by meaning, and with which model."""
    path = settings.recall_embed_model
    if path is None:
        return "off (RECALL_EMBED_MODEL unset: recall by words alone)"
    if settings.recall_budget == 0:
        return f"[yellow]{path.name} is set, but RECALL_BUDGET=0 turns recall off[/]"
    try:
        info = read_model_info(path)
    except ModelInfoError as exc:
        return f"[red]{exc}[/]"
    return f"{path.name} ({info.architecture}); turns are embedded after rounds"


def _limit_text(settings: Settings) -> str:
    """The VRAM cap `auto` plans with."""
    limit = settings.gpu_memory_limit_mb
    if limit is None:
        return "unset: auto may plan with all the free VRAM"
    applies = "" if settings.n_gpu_layers == "auto" else " (applies to N_GPU_LAYERS=auto only)"
    return f"{limit} MiB ({format_bytes(limit * 1024**2)}) at most for auto's plan{applies}"


async def _remote_rows(table: Table, remote: RemoteOptions) -> bool:
    """An inference server: what it is, what it supports, and one timed round trip."""
    table.add_row("backend", f"{remote.backend} at {safe_url(remote.url)}")
    try:
        engine = await connect_remote(remote)
    except EngineError as exc:
        table.add_row("server", f"[red]{exc}[/]")
        return False
    try:
        info = engine.info
        table.add_row("server", f"{info.server}, {info.version}")
        table.add_row("context", _context_text(info, remote))
        slots = f"{info.slots} on the server, " if info.slots else ""
        table.add_row("slots", f"{slots}{engine.parallel} channels at once (BACKEND_PARALLEL)")
        table.add_row("choice constraint", f"{info.constraint}; every answer is validated")
        table.add_row("prompt sent as", info.prompt)
        table.add_row("token counts", f"from {engine.tokenizer.source}")
        probe = GenerationRequest(Prompt.plain("Hello"), Sampler(max_tokens=4, seed=1))
        started = time.perf_counter()
        done = await engine.complete(probe)
        table.add_row(
            "round trip",
            f"{(time.perf_counter() - started) * 1000:.0f} ms for a {done.generated_tokens}-token"
            " completion",
        )
    except EngineError as exc:
        table.add_row("round trip", f"[red]{exc}[/]")
        return False
    finally:
        await engine.close()
    return True


async def _named_rows(table: Table, settings: Settings) -> None:
    """Each named backend (`BACKENDS`): reachable, and what it is; a down one fails nothing."""
    for name, entry in settings.backends.items():
        where = f"{entry.backend} at {safe_url(entry.url)}"
        try:
            engine = await connect_remote(named_options(name, entry, settings.n_ctx))
        except EngineError as exc:
            # The bot starts without it (its NPCs speak through the default engine): a warning.
            table.add_row(
                f"backend {name}",
                f"[yellow]{where}: cannot be used: {exc}\n"
                "its NPCs would speak through the default engine[/]",
            )
            continue
        try:
            info = engine.info
            slots = f", {info.slots} slots" if info.slots else ""
            table.add_row(
                f"backend {name}",
                f"{where}: {info.server}, {info.version}\n{info.n_ctx} tokens of context{slots}, "
                f"{engine.parallel} at once; prompts fit the smallest context of all backends",
            )
        finally:
            await engine.close()
    if not settings.backends:
        table.add_row("named backends", "none (BACKENDS): every NPC speaks through the default")


def _context_text(info: ServerInfo, remote: RemoteOptions) -> str:
    """A channel's window, where it comes from, and what the server's slots keep together."""
    if remote.n_ctx is None:
        source = "the server"
    elif remote.n_ctx == info.n_ctx:
        source = "N_CTX"
    else:  # the server refuses longer prompts (a llama-server slot, ollama's trained context)
        source = f"the server; N_CTX {remote.n_ctx} is more than it holds"
    text = f"{info.n_ctx} tokens per channel (from {source})"
    if remote.backend == "llama-server" and info.slots:
        # Every slot keeps its channel's history: a shared KV pool must hold them all at once.
        text += f"; {info.slots} slots keep up to {info.slots * info.n_ctx} tokens together"
    return text
