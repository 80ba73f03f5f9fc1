"""The terminal's `Poster`: a turn is posted once it is printed, and printed as it is written."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.status import Status

from bot.channel.ports import IncomingMessage, PartSent
from bot.channel.recovery import snowflake_at

NPC_STYLE = "bold cyan"
PLAYER_STYLE = "bold green"


class TerminalPoster:
    """Prints NPC turns and notices; message ids grow like Discord's, across restarts too.

    A turn being written is printed as it grows, on one line that its final text ends.
    """

    live = True  # nothing limits a terminal: the chat prints every turn as it is written

    def __init__(self, console: Console) -> None:
        self.console = console
        self._last_id = 0
        self._open: tuple[list[int], str] | None = None  # the line still being written
        self._status: Status | None = None

    def new_id(self) -> int:
        """A message id above every earlier one, this run's and the last run's."""
        self._last_id = max(self._last_id + 1, snowflake_at(datetime.now(UTC)))
        return self._last_id

    def say(self, speaker: str, text: str, style: str = NPC_STYLE) -> None:
        """One line of the transcript: the speaker's name, then what they said."""
        self.end_line()
        self.console.print(f"[{style}]{escape(speaker)}:[/] {escape(text)}", highlight=False)

    def owns_webhook(self, webhook_id: int) -> bool:
        return False  # the terminal has no webhooks: every line typed is the player's

    async def post_turn(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        self.say(speaker, text)
        message_id = self.new_id()
        await on_part(message_id)
        return [message_id]

    def rate_key(self, channel_id: int) -> int | None:
        return None

    async def post_live(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        self.end_line()
        if self._status is not None:  # the spinner would break the line being written
            self._status.stop()
        self._print(f"[{NPC_STYLE}]{escape(speaker)}:[/] {escape(text)}")
        message_id = self.new_id()
        self._open = ([message_id], text)
        await on_part(message_id)
        return [message_id]

    async def edit_live(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
        *,
        final: bool,
    ) -> list[int]:
        shown = self._open
        if shown is not None and shown[0] == list(message_ids) and text.startswith(shown[1]):
            self._print(escape(text[len(shown[1]) :]))
            self._open = (list(message_ids), text)
            if final:
                self.end_line()
        else:
            self.say(speaker, text)  # not a continuation of what was printed: print it whole
        return list(message_ids)

    def _print(self, markup: str) -> None:
        self.console.print(markup, end="", highlight=False, soft_wrap=True)

    def end_line(self) -> None:
        """End the line of a turn still being written, before anything else is printed."""
        if self._open is not None:
            self._open = None
            self.console.print()

    async def edit_turn(
        self,
        channel_id: int,
        message_ids: Sequence[int],
        speaker: str,
        avatar_url: str | None,
        text: str,
    ) -> list[int]:
        self.say(speaker, text)  # a terminal cannot change what it printed: print it again
        return list(message_ids)

    async def delete_messages(self, channel_id: int, message_ids: Sequence[int]) -> None:
        # Printed lines stay; the service's reply says what left the history.
        if self._open is not None and self._open[0] == list(message_ids):
            self._print(" [dim](stopped)[/]")
            self.end_line()

    async def set_controls(self, channel_id: int, message_id: int, turn_id: int | None) -> None:
        return None  # the terminal's controls are the /swipe, /continue and /undo commands

    async def notice(self, channel_id: int, text: str) -> None:
        self.end_line()
        self.console.print(f"[yellow]{escape(text)}[/]", highlight=False)

    async def refresh_links(self, urls: Sequence[str]) -> dict[str, str]:
        return {url: url for url in urls}  # avatars are never shown here

    @contextlib.asynccontextmanager
    async def typing(self, channel_id: int) -> AsyncIterator[None]:
        try:
            if not self.console.is_terminal:
                yield
                return
            with self.console.status("…", spinner="dots") as status:
                self._status = status
                yield
        finally:
            self._status = None
            self.end_line()

    async def mark_unsaved(self, channel_id: int, message_id: int) -> None:
        self.end_line()
        self.console.print("[red]⚠️ That line could not be saved; type it again.[/]")

    async def unmark_unsaved(self, channel_id: int, message_id: int) -> None:
        self.end_line()
        self.console.print("[green]That line was saved after all.[/]")

    async def messages_after(
        self, channel_id: int, after_id: int, limit: int
    ) -> list[IncomingMessage]:
        return []  # nobody can write in the terminal while it is closed
