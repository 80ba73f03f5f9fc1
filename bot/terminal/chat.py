"""`tavernkeep chat`: the terminal front end, a second adapter over the channel services.

Like a cog it parses a line, calls one service method and shows the reply; the rounds, the
story so far, swipes and recovery are the very code the Discord bot runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from rich.markup import escape

from bot.channel.ports import Actor, IncomingMessage, Reply
from bot.channel.services import Services
from bot.errors import UNEXPECTED, UserError
from bot.memory.service import MemoryCommands
from bot.scenes.service import SceneCommands
from bot.store import Character, Scene
from bot.terminal.poster import NPC_STYLE, PLAYER_STYLE, TerminalPoster

HELP = "Type to speak. /reply [NPC] · /swipe · /continue · /undo · /who · /memory · /help · /quit"
SHOWN_ON_RESUME = 6
log = logging.getLogger(__name__)
Command = Callable[[str], Awaitable[Reply | None]]


class TerminalChat:
    """A read-eval-print loop: your lines become player turns, NPCs answer in rounds."""

    def __init__(
        self,
        services: Services,
        poster: TerminalPoster,
        scene: Scene,
        player: tuple[int, Character],
    ) -> None:
        self.services = services
        self.poster = poster
        self.console = poster.console
        self.scene = scene
        owner_id, self.player = player
        # The one at the keyboard owns the scene: they act as its GM.
        self.actor = Actor(
            user_id=owner_id,
            guild_id=scene.guild_id,
            channel_id=scene.channel_id,
            display_name=self.player.name,
            manage_guild=True,
        )
        turns = services.turns
        self.commands: dict[str, Command] = {
            "/reply": lambda name: services.play.reply(self.actor, name or None),
            "/swipe": lambda _: turns.on_latest(self.actor, "swipe"),
            "/continue": lambda _: turns.on_latest(self.actor, "continue"),
            "/undo": lambda _: turns.on_latest(self.actor, "delete"),
            "/who": lambda _: services.get(SceneCommands).status(self.actor),
            "/memory": lambda _: services.get(MemoryCommands).show(self.actor),
            "/help": lambda _: self._help(),
        }

    async def _help(self) -> Reply:
        return Reply(HELP)

    async def start(self) -> None:
        """Take down what a crash left unposted, then show the last few turns."""
        await self.services.recovery.discard_unposted()
        for turn in await self.services.play.recent(self.scene.id, SHOWN_ON_RESUME):
            self.poster.say(
                turn.speaker, turn.content, PLAYER_STYLE if turn.role == "user" else NPC_STYLE
            )

    async def handle(self, line: str) -> bool:
        """Act on one input line and wait for the round it starts; False means quit."""
        text = line.strip()
        if not text:
            return True
        name, _, arg = text.partition(" ")
        if name.lower() in ("/quit", "/exit"):
            return False
        command = self.commands.get(name.lower())
        if command is None and text.startswith("/"):
            self.console.print(f"[yellow]Unknown command {escape(name)}.[/] {HELP}")
            return True
        try:
            if command is not None:
                self._show(await command(arg.strip()))
            else:
                await self.services.play.on_message(self._message(text))
            await self.services.sessions.wait_idle(self.scene.channel_id, chores=False)
        except UserError as exc:
            self.console.print(f"[red]{escape(str(exc))}[/]")
        except Exception as exc:
            log.error("a chat command failed", exc_info=exc)
            self.console.print(f"[red]{UNEXPECTED}[/]")
        return True

    def _message(self, text: str) -> IncomingMessage:
        return IncomingMessage(
            message_id=self.poster.new_id(),
            channel_id=self.scene.channel_id,
            guild_id=self.scene.guild_id,
            author_id=self.actor.user_id,
            author_name=self.player.name,
            content=text,
        )

    def _show(self, reply: Reply | None) -> None:
        if reply is None:
            return
        # Replies are worded for Discord: its bold markers mean nothing in a terminal.
        self.console.print(f"[dim]{escape(reply.text.replace('**', ''))}[/]", highlight=False)
        for name, data in reply.files:
            self.console.print(f"[dim]── {escape(name)} ──[/]")
            self.console.print(escape(data.decode(errors="replace")), highlight=False)

    async def run(self, lines: TextIO | None = None) -> None:
        """Read lines until /quit or end of input; piped lines are echoed as the player's."""
        source = lines or sys.stdin
        interactive = source.isatty()
        self.console.print(f"[dim]{HELP}[/]")
        await self.start()
        try:
            while True:
                if interactive:
                    self.console.print(f"[{PLAYER_STYLE}]{escape(self.player.name)}>[/] ", end="")
                line = await asyncio.to_thread(source.readline)
                if not line:
                    return
                if not interactive and line.strip():  # a piped transcript reads like a session
                    self.console.print(
                        f"[{PLAYER_STYLE}]{escape(self.player.name)}>[/] {escape(line.strip())}",
                        highlight=False,
                    )
                if not await self.handle(line):
                    return
        finally:
            await self.services.close()
