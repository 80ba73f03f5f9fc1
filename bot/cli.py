"""The `tavernkeep` command line; it takes its parts from the composition root (`bot.core`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import random
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from rich.console import Console

from bot.characters.voices import voice_rules
from bot.core import open_core, remote_options
from bot.director import SceneView, TurnDirector
from bot.director.choices import choose_speaker
from bot.director.types import DirectorEngine
from bot.domain import FORMAT_NAMES, CancelToken
from bot.engine.base import EngineError
from bot.errors import UNEXPECTED, UserError
from bot.logs import configure_logging
from bot.lore.report import describe_activation
from bot.recall.service import plug_recall
from bot.recall.wording import describe_recall
from bot.scenes.imports import import_scene_file, state_report
from bot.scenes.scene_file import EXAMPLE_SCENE, SceneFile, SceneFileError, load_scene_file
from bot.settings import Settings, SettingsError, load_settings
from bot.store import DatabaseLease, upgrade


def _pick_player(players: Sequence[tuple[int, object]], wanted: str | None) -> int:
    if not players:
        raise SceneFileError("the scene file has no [[players]] to play as")
    if wanted is None:
        return 0
    names = [getattr(c, "name", "") for _, c in players]
    for index, name in enumerate(names):
        if name.casefold() == wanted.casefold():
            return index
    raise SceneFileError(f"no player named {wanted!r}; players: {', '.join(names)}")


async def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.terminal.chat import TerminalChat
    from bot.terminal.poster import TerminalPoster

    scene_file = load_scene_file(args.scene or EXAMPLE_SCENE, voice_rules(settings))
    # One person at the keyboard: rounds start at once, nothing is rate-limited, and every
    # post is for the NPCs (the other player characters of a scene file do not talk back).
    local = settings.model_copy(
        update={"quiet_seconds": 0.0, "reply_cooldown_seconds": 0.0, "npcs_may_pass": False}
    )
    core = await open_core(local)
    try:
        scene, players = await import_scene_file(core.stores, scene_file, settings.default_format)
        player = players[_pick_player(players, args.as_player)]
        poster = TerminalPoster(Console(highlight=False))
        await TerminalChat(core.services(poster), poster, scene, player).run()
    finally:
        await core.close()
    return 0


def _speaker(view: SceneView, scene_file: SceneFile, wanted: str) -> str:
    """The cast member `--for` names, or a one-line error saying why it cannot speak next."""
    member = view.npc(wanted)
    if member is not None:
        return member.name
    if any(npc.name.casefold() == wanted.casefold() for npc in scene_file.npcs):
        raise UserError(
            f"{wanted} is not in the scene after the file's turns (it left, or never entered)."
        )
    raise UserError(f"{wanted} is not one of this scene's NPCs.")


async def _chosen(director: TurnDirector, engine: DirectorEngine, view: SceneView) -> str | None:
    """The NPC the director would choose to speak next, as a round chooses; None if muted."""
    plan = await director.build_prompt(view)
    member = await choose_speaker(engine, view, plan, CancelToken())
    return member.name if member else None


async def cmd_prompt(settings: Settings, args: argparse.Namespace) -> int:
    scene_file = load_scene_file(args.scene or EXAMPLE_SCENE, voice_rules(settings))
    with tempfile.TemporaryDirectory(prefix="tavernkeep-prompt-") as tmp:
        scratch = settings.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'prompt.db'}"}
        )
        # Without --for the model chooses who speaks, so it is loaded whole.
        core = await open_core(scratch, mode="vocab" if args.npc else "full")
        plug_recall(core.views, core.stores, settings)  # NPCs' prompts recall as in the bot
        ids: list[int] = []
        report: list[str] = []
        try:
            scene, _ = await import_scene_file(core.stores, scene_file, settings.default_format)
            if args.format:
                scene = await core.stores.scenes.update(scene.id, format=args.format)
            view = await core.views.view(scene)
            if args.npc:
                speaker: str | None = _speaker(view, scene_file, args.npc)
            else:
                speaker = await _chosen(core.director, core.engine, view)
            plan = await core.director.build_prompt(view, speaker)
            if args.tokens:
                ids = await core.engine.tokenize(plan.rendered.prompt)
            if args.state:
                report = await state_report(core.stores, scene)
        finally:
            await core.close()
    if args.state:
        output = "\n".join(report) + "\n"
    elif args.lore:
        output = "\n".join(describe_activation(plan.lore)) + "\n"
    elif args.recall:
        output = "\n".join(describe_recall(plan.recall)) + "\n"
    else:
        output = json.dumps(ids) + "\n" if args.tokens else plan.rendered.text
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0


async def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    await upgrade(settings.database_url)
    print(f"Database is at the newest schema: {_safe_url(settings.database_url)}")
    return 0


async def cmd_doctor(settings: Settings, _: argparse.Namespace) -> int:
    from bot.doctor import run_doctor

    remote = remote_options(settings) if settings.remote else None
    return await run_doctor(settings, Console(highlight=False), remote)


async def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    if args.soak:
        return await cmd_soak(settings, args)
    if args.database:
        from bot.bench.recall_db import run_recall_db_bench

        console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
        return await run_recall_db_bench(
            args.database, quick=args.quick, json_path=args.json, console=console
        )
    if args.serve or settings.backend == "llama-server":
        from bot.bench.remote_run import run_remote_bench

        console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
        return await run_remote_bench(
            settings, quick=args.quick, json_path=args.json, serve=args.serve, console=console
        )
    if settings.backend != "llama-cpp":
        raise EngineError("the bench measures BACKEND=llama-cpp or llama-server")
    from bot.bench import run_bench

    return await run_bench(settings, quick=args.quick, json_path=args.json)


SoakRunner = Callable[..., Awaitable[int]]
SOAK_PLAYERS_LIMIT = 100  # the harness gives each channel a block of 100 member ids


def _soak_runner() -> SoakRunner | None:
    """The soak harness next to this package in a source checkout; None when installed."""
    # The soak drives the bot against the test suite's fake Discord, and tests/ is not part of
    # the package: only a checkout has it.
    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "soak" / "cli.py").is_file():
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("tests.soak.cli")
    except ModuleNotFoundError as exc:
        raise UserError(f"the soak bench needs the dev extra ({exc.name} is missing)") from exc
    runner: SoakRunner = module.run_soak_cli
    return runner


async def cmd_soak(settings: Settings, args: argparse.Namespace) -> int:
    if args.channels < 1 or not 1 <= args.players <= SOAK_PLAYERS_LIMIT or args.seconds <= 0:
        raise UserError(
            f"--soak needs --channels ≥ 1, --players from 1 to {SOAK_PLAYERS_LIMIT}, --seconds > 0"
        )
    runner = _soak_runner()
    if runner is None:
        print(
            "tavernkeep: the soak bench runs from a source checkout (it needs the test suite's "
            "fake Discord, which is not installed)",
            file=sys.stderr,
        )
        return 2
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    return await runner(
        settings,
        seconds=args.seconds,
        channels=args.channels,
        players=args.players,
        json_path=args.json,
        console=console,
    )


async def cmd_roll(_: Settings, args: argparse.Namespace) -> int:
    # Imported here: d20 compiles its grammar on import, which the other commands need not wait for.
    from bot.dice import DiceError, roll_dice
    from bot.dice.limits import TIMES_MAX
    from bot.dice.wording import TIMES, cli_line

    if not 1 <= args.times <= TIMES_MAX:
        raise DiceError(TIMES)
    rng = random.Random(args.seed) if args.seed is not None else None  # None: the OS's
    text = " ".join(args.expr)
    lines = [cli_line(roll_dice(text, rng)) for _ in range(args.times)]
    print("\n".join(lines))
    return 0


async def cmd_run(settings: Settings, _: argparse.Namespace) -> int:
    # The CLI is the program's entry point: the one place in `bot/` that reaches the Discord
    # adapter, and only for this command, so the other commands never load discord.py.
    from cogs.bot import run_bot

    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(
            "DISCORD_TOKEN is not set: copy .env.example to .env and put your bot token there.",
            file=sys.stderr,
        )
        return 2
    # One bot per database: taken before the model loads and Discord is reached, so a second
    # `run` refuses at once, naming the first (LeaseHeld is a UserError: one line, exit 2).
    lease = DatabaseLease(settings.database_url)
    await lease.acquire()
    try:
        core = await open_core(settings)
        try:
            return await lease.while_held(run_bot(core))
        finally:
            await core.close()
    finally:
        await lease.release()


def _safe_url(url: str) -> str:
    """The database URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tavernkeep", description="Group roleplay on a local model."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the Discord bot").set_defaults(handler=cmd_run)
    chat = sub.add_parser("chat", help="play a scene in the terminal")
    chat.add_argument("scene", nargs="?", help="scene file (TOML); default: the bundled example")
    chat.add_argument("--as", dest="as_player", help="which player to play")
    chat.set_defaults(handler=cmd_chat)
    prompt = sub.add_parser("prompt", help="print the exact prompt for the next model turn")
    prompt.add_argument("scene", nargs="?", help="scene file (TOML); default: the bundled example")
    prompt.add_argument("--format", choices=FORMAT_NAMES)
    prompt.add_argument(
        "--for",
        "--as",
        dest="npc",
        metavar="NPC",
        help="the prompt this NPC would speak from next: only what it witnessed",
    )
    shown = prompt.add_mutually_exclusive_group()
    shown.add_argument(
        "--tokens", action="store_true", help="print the token ids the model receives (JSON)"
    )
    shown.add_argument("--lore", action="store_true", help="print which lore entries fired and why")
    shown.add_argument(
        "--state", action="store_true", help="print each character's values and the scene's rolls"
    )
    shown.add_argument(
        "--recall",
        action="store_true",
        help="print what the prompt recalled of older turns and why (with --for NPC)",
    )
    prompt.set_defaults(handler=cmd_prompt)
    sub.add_parser("migrate", help="upgrade the database to the newest schema").set_defaults(
        handler=cmd_migrate
    )
    sub.add_parser(
        "doctor", help="check the model or server, GPU offload and database"
    ).set_defaults(handler=cmd_doctor)
    bench = sub.add_parser("bench", help="measure overhead, KV-cache reuse and storage")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke check")
    bench.add_argument("--json", type=Path, help="also write the figures to this file")
    bench.add_argument(
        "--serve",
        action="store_true",
        help="start the cached llama-server on the model and measure the remote figures",
    )
    bench.add_argument(
        "--soak",
        action="store_true",
        help="a busy evening: the bot against a fake Discord and llama-server (source checkout)",
    )
    bench.add_argument(
        "--database",
        metavar="URL",
        help="measure recall@5 and recall_ms on this empty database (it is migrated and filled)",
    )
    bench.add_argument("--seconds", type=float, default=300.0, help="--soak: how long players post")
    bench.add_argument("--channels", type=int, default=20, help="--soak: channels with a scene")
    bench.add_argument("--players", type=int, default=5, help="--soak: players per channel")
    bench.set_defaults(handler=cmd_bench)
    roll = sub.add_parser("roll", help="roll dice as /roll does: 1d20+5, 4d6kh3, 6d10>=8")
    roll.add_argument("expr", nargs="+", help="the dice (spaces between parts are ignored)")
    roll.add_argument("--seed", type=int, help="a seed: the same seed rolls the same numbers")
    roll.add_argument("--times", type=int, default=1, help="roll it this many times, one a line")
    roll.set_defaults(handler=cmd_roll)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tavernkeep` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tavernkeep: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    try:
        code: int = asyncio.run(args.handler(settings, args))
        return code
    except UserError as exc:
        print(f"tavernkeep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        logging.getLogger("tavernkeep").exception("tavernkeep %s failed", args.command)
        print(f"tavernkeep: {UNEXPECTED}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
