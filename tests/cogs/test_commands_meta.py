"""Every registered app command: Discord's limits, unique names, and GM-only means GM-only.

The bot runs against the fake Discord on a scripted engine: these tests are about the command
tree and the permission checks, not about the model.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest_asyncio
from discord import app_commands

from cogs.common import GM_ONLY
from tests.e2e import (
    Npc,
    Running,
    cast_scene,
    e2e_settings,
    fake_discord,
    start_bot,
    stop_bot,
)
from tests.scripted_engine import ScriptedEngine

NAME = re.compile(r"^[-_a-z0-9]{1,32}$")  # Discord's rule for slash command and option names
REFUSALS = ("Only a GM can do that", "Only members with Manage Server")
# Commands that any player may use; every other one must be marked GM-only and refuse players.
OPEN_TO_PLAYERS = {
    "character create",
    "character edit",
    "character delete",
    "character list",
    "character show",
    "character use",
    "lore list",
    "reply",
    "roll",
    "scene enter",
    "scene leave",
    "scene who",
    "stat add",
    "stat remove",
    "stat set",
    "stat show",
    "suggest",
    "whisper",
}
Leaf = app_commands.Command[Any, Any, Any]


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async for fake in fake_discord():
        bot = await start_bot(
            fake, e2e_settings(fake, tmp_path / "meta.db"), engine=ScriptedEngine()
        )
        try:
            yield bot
        finally:
            await stop_bot(bot)


def _slash_commands(tree: app_commands.CommandTree[Any]) -> list[Leaf]:
    return [c for c in tree.walk_commands() if isinstance(c, app_commands.Command)]


async def test_every_command_keeps_discords_limits(running: Running) -> None:
    tree = running.bot.tree
    top = tree.get_commands()
    menus = tree.get_commands(type=discord.AppCommandType.message)
    assert len(top) <= 100 and len(menus) <= 5
    assert len({c.name for c in top}) == len(top)
    assert len({c.name for c in menus}) == len(menus)
    leaves = _slash_commands(tree)
    assert len(leaves) > 30  # the walk saw the real tree
    assert len({c.qualified_name for c in leaves}) == len(leaves)
    for group in (c for c in tree.walk_commands() if isinstance(c, app_commands.Group)):
        assert NAME.match(group.name) and 1 <= len(group.description) <= 100, group.name
        assert len(group.commands) <= 25, group.qualified_name
    for command in leaves:
        where = command.qualified_name
        assert NAME.match(command.name), where
        assert 1 <= len(command.description) <= 100, where
        assert len(command.parameters) <= 25, where
        for parameter in command.parameters:
            assert NAME.match(parameter.display_name), (where, parameter.name)
            assert 1 <= len(parameter.description) <= 100, (where, parameter.name)


def _value(parameter: app_commands.Parameter, running: Running) -> object:
    """Some valid value of an option's type: the answer tells who may use the command."""
    if parameter.choices:
        return parameter.choices[0].value
    kind = parameter.type
    if kind is discord.AppCommandOptionType.integer:
        return int(parameter.min_value or 1)
    if kind is discord.AppCommandOptionType.number:
        return float(parameter.min_value or 0.5)
    if kind is discord.AppCommandOptionType.boolean:
        return False
    if kind is discord.AppCommandOptionType.role:
        return running.fake.gm_role_id
    if kind in (discord.AppCommandOptionType.user, discord.AppCommandOptionType.mentionable):
        return running.fake.admin_id
    return "Marta"


async def _answer_as_player(running: Running, command: Leaf, channel: int) -> str:
    """What a player without GM rights is told when they run `command` with every option."""
    fake = running.fake
    parts = command.qualified_name.split()
    options: dict[str, object] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for parameter in command.parameters:
        if parameter.type is discord.AppCommandOptionType.attachment:
            files[parameter.display_name] = ("notes.txt", b"**Character Name**: Wren")
        else:
            options[parameter.display_name] = _value(parameter, running)
    handle = await fake.slash(
        parts[0],
        group=parts[1] if len(parts) == 3 else None,
        subcommand=parts[-1] if len(parts) > 1 else None,
        user_id=fake.player_ids[0],
        channel_id=channel,
        options=options,
        attachments=files or None,
    )
    body = await handle.response(10.0)
    if body["type"] in (5, 6):
        return str((await handle.followup(60.0))["content"])
    if body["type"] == 4:
        return str(body["data"]["content"])
    return f"<response type {body['type']}>"  # a form opened, or another kind of answer


async def test_gm_only_commands_refuse_players_and_only_they_do(running: Running) -> None:
    channel = await cast_scene(running, "harbor", (Npc("Marta", sheet="**Age**: 52"),))
    leaves = _slash_commands(running.bot.tree)
    marked = {c.qualified_name for c in leaves if c.extras.get(GM_ONLY)}
    assert marked == {c.qualified_name for c in leaves} - OPEN_TO_PLAYERS
    refused = set()
    for command in leaves:
        text = await _answer_as_player(running, command, channel)
        await running.idle()
        if text.startswith(REFUSALS):
            refused.add(command.qualified_name)
    assert refused == marked
