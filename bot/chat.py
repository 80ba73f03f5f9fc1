"""`tavernkeep chat`: play a scene in the terminal on the same director, engine and store."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.markup import escape

from bot.director import (
    DirectorError,
    RoundHooks,
    RoundResult,
    SceneView,
    StoredTurn,
    TurnDirector,
)
from bot.domain import CancelToken
from bot.memory import Summarizer
from bot.scenes.views import SceneViews
from bot.store import Character, Scene, Stores

HELP = "Type to speak. /reply [NPC] · /swipe · /undo · /who · /memory · /help · /quit"
SHOWN_ON_RESUME = 6


class TerminalChat:
    """A read-eval-print loop: your lines become player turns, NPCs answer in rounds."""

    def __init__(
        self,
        stores: Stores,
        views: SceneViews,
        director: TurnDirector,
        scene: Scene,
        player: tuple[int, Character],
        console: Console,
        summarizer: Summarizer | None = None,
    ) -> None:
        self.stores = stores
        self.views = views
        self.director = director
        self.scene = scene
        self.owner_id, self.player = player
        self.console = console
        self.summarizer = summarizer
        # The story-so-far update after a round; the next line stops it before acting.
        self._chore: tuple[asyncio.Task[int], CancelToken] | None = None

    def _say(self, speaker: str, text: str, style: str = "bold cyan") -> None:
        self.console.print(f"[{style}]{escape(speaker)}:[/] {escape(text)}", highlight=False)

    async def show_recent(self) -> None:
        """Print the last few turns, so a resumed session has context."""
        for turn in await self.stores.turns.window(self.scene.id, SHOWN_ON_RESUME):
            self._say(
                turn.speaker, turn.content, "bold green" if turn.role == "user" else "bold cyan"
            )

    async def _round(self, forced: str | None = None) -> RoundResult:
        view = await self.views.view(self.scene)
        hooks = RoundHooks(stored=self._print_turn)
        with (
            self.console.status("…", spinner="dots")
            if self.console.is_terminal
            else contextlib.nullcontext()
        ):
            result = await self.director.run_round(view, forced=forced, hooks=hooks)
        if result.notice:
            self.console.print(f"[yellow]{escape(result.notice)}[/]")
        if self.summarizer is not None and result.turns:
            cancel = CancelToken()
            task = asyncio.create_task(self.summarizer.catch_up(self._view, cancel))
            self._chore = (task, cancel)
        return result

    async def _view(self) -> SceneView:
        return await self.views.view(self.scene)

    async def stop_chore(self) -> None:
        """Stop the background summary at its next token (it stores nothing half-made)."""
        if self._chore is not None:
            task, cancel = self._chore
            self._chore = None
            cancel.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _print_turn(self, turn: StoredTurn) -> None:
        """Show a stored NPC turn: printed is posted, so it joins the history."""
        self._say(turn.speaker, turn.content)
        await self.stores.turns.mark_posted(turn.id)

    async def discard_unprinted(self) -> None:
        """Hide NPC turns a crash left stored but never printed in this scene."""
        for turn in await self.stores.turns.pending(self.scene.id):
            await self.stores.turns.mark_deleted(turn.id)

    async def handle(self, line: str) -> bool:
        """Act on one input line; False means quit."""
        text = line.strip()
        if not text:
            return True
        await self.stop_chore()
        command, _, arg = text.partition(" ")
        actions: dict[str, Callable[[str], Awaitable[bool]]] = {
            "/quit": self._quit,
            "/exit": self._quit,
            "/reply": self._reply,
            "/swipe": self._swipe,
            "/undo": self._undo,
            "/who": self._who,
            "/memory": self._memory,
            "/help": self._help,
        }
        action = actions.get(command.lower())
        if action is None and text.startswith("/"):
            self.console.print(f"[yellow]Unknown command {escape(command)}.[/] {HELP}")
            return True
        try:
            if action is not None:
                return await action(arg.strip())
            await self.stores.turns.append(
                self.scene.id,
                role="user",
                speaker=self.player.name,
                content=text,
                character_id=self.player.id,
                author_id=self.owner_id,
            )
            await self._round()
        except DirectorError as exc:
            self.console.print(f"[red]{escape(str(exc))}[/]")
        return True

    async def _quit(self, _: str) -> bool:
        return False

    async def _help(self, _: str) -> bool:
        self.console.print(HELP)
        return True

    async def _who(self, _: str) -> bool:
        view = await self.views.view(self.scene)
        self.console.print(
            f"You play {escape(self.player.name)}. NPCs: "
            + escape(", ".join(m.name for m in view.npcs))
        )
        return True

    async def _memory(self, _: str) -> bool:
        summary = await self.stores.summaries.get(self.scene.id)
        if summary is None:
            self.console.print("[dim]No story so far yet (the history still fits the prompt).[/]")
        else:
            self.console.print(f"[dim]Story so far (turns 1–{summary.through}):[/]")
            self.console.print(escape(summary.text), highlight=False)
        return True

    async def _reply(self, name: str) -> bool:
        await self._round(name or None)
        return True

    async def _swipe(self, _: str) -> bool:
        last = await self.stores.turns.last(self.scene.id)
        if last is None or last.role != "model":
            self.console.print("[yellow]The last turn is not an NPC's; nothing to swipe.[/]")
            return True
        view = await self.views.view(self.scene)
        turn = await self.director.swipe(view, last)
        self._say(turn.speaker, turn.content)
        return True

    async def _undo(self, _: str) -> bool:
        last = await self.stores.turns.last(self.scene.id)
        if last is None:
            self.console.print("[yellow]Nothing to undo.[/]")
            return True
        await self.stores.turns.mark_deleted(last.id)
        self.console.print(f"[dim]Removed {escape(last.speaker)}'s last turn.[/]")
        return True

    async def run(self) -> None:
        """Read lines from standard input until /quit or end of input."""
        self.console.print(f"[dim]{HELP}[/]")
        await self.discard_unprinted()
        await self.show_recent()
        while True:
            if sys.stdin.isatty():
                self.console.print(f"[bold green]{escape(self.player.name)}>[/] ", end="")
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                await self.stop_chore()
                return
            if not await self.handle(line):
                return
