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
from bot.dice import DiceError, check_dice
from bot.dice.limits import EXPR_MAX_CHARS
from bot.dice.service import DiceCommands
from bot.errors import UNEXPECTED, UserError
from bot.knowledge.rules import split_addressee
from bot.knowledge.service import KnowledgeCommands
from bot.knowledge.wording import WHISPER_USAGE
from bot.memory.service import MemoryCommands
from bot.scenes.service import SceneCommands
from bot.state.service import StatCommands
from bot.store import Character, Scene
from bot.terminal.poster import NPC_STYLE, PLAYER_STYLE, TerminalPoster

HELP = (
    "Type to speak. /reply [NPC] · /whisper NPC text · /roll DICE [reason] · "
    "/stat [set|add|remove KEY VALUE] · /swipe · /continue · /undo · /who · /memory · /help · /quit"
)
STAT_USAGE = (
    "Use /stat to see your values, or /stat set KEY VALUE, /stat add KEY VALUE, "
    '/stat remove KEY [items]; quote a key with spaces: /stat set "Max HP" 20.'
)
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
            "/roll": lambda text: services.get(DiceCommands).roll(self.actor, *split_roll(text)),
            "/stat": self._stat,
            "/whisper": self._whisper,
            "/swipe": lambda _: turns.on_latest(self.actor, "swipe"),
            "/continue": lambda _: turns.on_latest(self.actor, "continue"),
            "/undo": lambda _: turns.on_latest(self.actor, "delete"),
            "/who": lambda _: services.get(SceneCommands).status(self.actor),
            "/memory": self._memory,
            "/help": lambda _: self._help(),
        }

    async def _help(self) -> Reply:
        return Reply(HELP)

    async def _memory(self, _: str) -> Reply:
        """The story so far, then the chapters closed before it."""
        memory = self.services.get(MemoryCommands)
        self._show(await memory.show(self.actor))
        return await memory.chapters.show(self.actor)

    async def _stat(self, text: str) -> Reply:
        """`/stat` shows the player's values; `set`, `add` and `remove` change them."""
        stats = self.services.get(StatCommands)
        op, _, rest = text.partition(" ")
        if not op:
            return await stats.show(self.actor)
        key, value = _key_and_value(rest)
        match op.lower():
            case "set" if key and value:
                return await stats.set(self.actor, key, value)
            case "add" if key and value:
                return await stats.add(self.actor, key, value)
            case "remove" if key:
                return await stats.remove(self.actor, key, value or None)
        raise UserError(STAT_USAGE)

    async def _whisper(self, text: str) -> Reply:
        """`/whisper NPC text`: said to that NPC alone; its answer is printed, never posted."""
        knowledge = self.services.get(KnowledgeCommands)
        npc, words = split_addressee(text, await knowledge.cast_names(self.actor, ""))
        if not npc or not words:
            raise UserError(WHISPER_USAGE)

        async def heard(line: str) -> None:
            self._show(Reply(line))

        return await knowledge.whisper(self.actor, npc, words, heard)

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
            self.console.print(f"[yellow]Unknown command {escape(name)}.[/] {escape(HELP)}")
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
        self.console.print(f"[dim]{escape(HELP)}[/]")
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


def split_roll(text: str) -> tuple[str, str | None]:
    """`1d20 + 5 Stealth check` → (`1d20 + 5`, `Stealth check`): the longest run of words that
    is valid dice, else the first word (whose roll then says what is wrong with it)."""
    words = text.split()
    if not words:
        return "", None
    taken = 1
    for end in range(2, len(words) + 1):
        # Spaces do not count in notation, so `1d20 5 goblins` would read as 1d205: a number
        # never joins the number before it.
        if words[end - 2][-1].isdigit() and words[end - 1][0].isdigit():
            break
        joined = " ".join(words[:end])
        if len(joined) > EXPR_MAX_CHARS:
            break
        try:
            check_dice(joined)
        except DiceError:
            continue
        taken = end
    return " ".join(words[:taken]), " ".join(words[taken:]) or None


def _key_and_value(text: str) -> tuple[str, str]:
    """`HP 12/20` → (`HP`, `12/20`); a key with spaces in double quotes: `"Max HP" 20`."""
    text = text.strip()
    if text.startswith('"') and '"' in text[1:]:
        key, _, value = text[1:].partition('"')
    else:
        key, _, value = text.partition(" ")
    return key.strip(), value.strip()
