"""The terminal and Discord run one play path: the same evening leaves the same history.

Both front ends get a turn a crash left stored but never shown, then a player line, a swipe
and an undo (Discord: the Swipe and Delete buttons). The engine is scripted: these tests are
about what the services do with its answers, not about the model's text.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from rich.console import Console

from bot.core import open_core
from bot.scenes.imports import import_scene_file
from bot.scenes.scene_file import load_scene_file
from bot.settings import load_settings
from bot.store import Turn
from bot.terminal.chat import TerminalChat
from bot.terminal.poster import TerminalPoster
from tests.e2e import (
    Npc,
    cast_scene,
    click,
    custom_ids,
    e2e_settings,
    fake_discord,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord
from tests.scripted_engine import ScriptedEngine

FIRST, SECOND = "The lamps are out.", "The gate is cut."
LEFT_OVER = "Never shown."
SCENE_FILE = """
format = "group-inst"
[[npcs]]
name = "Marta"
sheet = "**Character Name**: Marta"
[[players]]
name = "Rook"
sheet = "**Character Name**: Rook"
"""
# What matters of a turn here: who wrote it, what it says now, its versions, whether it is gone.
Shape = tuple[str, str, tuple[str, ...], bool]


def _engine() -> ScriptedEngine:
    """One NPC line for the round, another for the swipe; then the floor goes back."""
    return ScriptedEngine(speakers=["Marta"], texts=[FIRST, SECOND])


def _shapes(turns: list[Turn]) -> list[Shape]:
    return [(t.role, t.content, tuple(t.swipes), t.deleted) for t in turns]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async for f in fake_discord():
        yield f


async def _in_the_terminal(tmp_path: Path) -> tuple[list[Shape], str]:
    (tmp_path / "scene.toml").write_text(SCENE_FILE)
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'terminal.db'}",
        quiet_seconds=0.0,
        reply_cooldown_seconds=0.0,
    )
    core = await open_core(settings, engine=_engine())  # type: ignore[arg-type]
    try:
        stores = core.stores
        scene, players = await import_scene_file(
            stores, load_scene_file(tmp_path / "scene.toml"), "group-inst"
        )
        await stores.turns.append(
            scene.id, role="model", speaker="Marta", content=LEFT_OVER, pending=True
        )
        out = io.StringIO()
        poster = TerminalPoster(Console(file=out, width=500))
        chat = TerminalChat(core.services(poster), poster, scene, players[0])
        await chat.run(io.StringIO("Hello there\n/swipe\n/undo\n"))
        turns = [t async for t in stores.turns.iter_all(scene.id, include_deleted=True)]
    finally:
        await core.close()
    return _shapes(turns), out.getvalue()


async def _on_discord(fake: FakeDiscord, tmp_path: Path) -> list[Shape]:
    settings = e2e_settings(fake, tmp_path / "discord.db")
    running = await start_bot(fake, settings, engine=_engine())
    try:
        channel = await cast_scene(running, "harbor", (Npc("Marta", sheet="**Age**: 52"),))
        scene = await running.scene(channel)
    finally:
        await stop_bot(running)
    # The last run stored a turn and crashed before it was posted.
    core = await open_core(settings, engine=_engine())  # type: ignore[arg-type]
    try:
        await core.stores.turns.append(
            scene.id, role="model", speaker="Marta", content=LEFT_OVER, pending=True
        )
    finally:
        await core.close()
    running = await start_bot(fake, settings, engine=_engine())
    try:
        alice = fake.player_ids[0]
        since = len(fake.messages)
        await player_says(running, channel, alice, "Hello there")
        answer = npc_posts(fake, channel, since)[-1]
        buttons = custom_ids(answer)
        for action in ("swipe", "delete"):
            pressed = next(b for b in buttons if b.startswith(f"tk:{action}:"))
            await click(fake, answer["id"], pressed, user_id=fake.admin_id, channel_id=channel)
            await running.idle()
        turns = await running.turns(channel)
    finally:
        await stop_bot(running)
    return _shapes([t for t in turns if not t.greeting])


async def test_a_crash_a_swipe_and_an_undo_leave_the_same_history(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    terminal, transcript = await _in_the_terminal(tmp_path)
    discord = await _on_discord(fake, tmp_path)
    expected: list[Shape] = [
        ("model", LEFT_OVER, (LEFT_OVER,), True),  # taken back at start, never shown
        ("user", "Hello there", ("Hello there",), False),
        ("model", SECOND, (FIRST, SECOND), True),  # swiped, then undone
    ]
    assert terminal[-3:] == expected
    assert discord[-3:] == expected
    assert LEFT_OVER not in transcript
    assert f"Marta: {FIRST}" in transcript and f"Marta: {SECOND}" in transcript
