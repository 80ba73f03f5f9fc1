"""The terminal chat prints an NPC turn as it is written: one line, grown sentence by sentence,
ending with the stored text; a stopped turn's line says so."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

from rich.console import Console

from bot.channel.ports import PartSent
from bot.channel.visible import visible_prefix
from bot.store import Database
from bot.terminal.poster import TerminalPoster
from tests.channel.helpers import CHANNEL, Tavern, build, gm, within_guard
from tests.channel.streaming_helpers import PacedEngine, words
from tests.channel.test_streaming import OTHERS, TEXT, _scene


class Writes(io.StringIO):
    """A console's file that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


class WatchedTerminal(TerminalPoster):
    """The terminal's poster, telling the test what the line being written shows."""

    def __init__(self, out: Writes) -> None:
        super().__init__(Console(file=out, width=500))
        self.latest = ""
        self.changed = asyncio.Event()

    async def post_live(
        self, channel_id: int, speaker: str, avatar_url: str | None, text: str, on_part: PartSent
    ) -> list[int]:
        ids = await super().post_live(channel_id, speaker, avatar_url, text, on_part)
        self._saw(text)
        return ids

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
        ids = await super().edit_live(
            channel_id, message_ids, speaker, avatar_url, text, final=final
        )
        self._saw(text)
        return ids

    def _saw(self, text: str) -> None:
        self.latest = text
        self.changed.set()

    async def showing(self, text: str) -> None:
        async def wait() -> None:
            while self.latest != text:
                self.changed.clear()
                await self.changed.wait()

        await within_guard(wait())


def _terminal(db: Database, reply: str) -> tuple[Tavern, WatchedTerminal, Writes, PacedEngine]:
    out = Writes()
    poster = WatchedTerminal(out)
    engine = PacedEngine([words(reply)])

    async def pace(text: str) -> None:
        visible = visible_prefix(text, "Marta", OTHERS)
        if visible:
            await poster.showing(visible)

    engine.pace = pace
    return build(db, engine=engine, poster=poster), poster, out, engine  # type: ignore[arg-type]


async def test_the_terminal_prints_a_turn_as_it_is_written(db: Database) -> None:
    tavern, _, out, _ = _terminal(db, TEXT)
    await _scene(tavern)
    printed = len(out.getvalue())
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))

    assert out.getvalue()[printed:] == f"Marta: {TEXT}\n"  # one line, the stored text
    turn_writes = [w for w in out.writes if w]
    first = next(i for i, w in enumerate(turn_writes) if w.startswith("Marta: "))
    assert turn_writes[first] == "Marta: *Marta wipes the counter.*"
    assert len(turn_writes[first:]) >= 4  # grown sentence by sentence, then the line ends


async def test_a_stopped_turn_says_so_in_the_terminal(db: Database) -> None:
    tavern, _, out, engine = _terminal(db, "Marta turns. She reaches for the")
    engine.hold = True
    await _scene(tavern)
    printed = len(out.getvalue())
    await tavern.services.play.reply(gm(), "Marta")
    await within_guard(engine.holding.wait())
    tavern.services.sessions.get(CHANNEL).halt()
    await within_guard(tavern.services.sessions.wait_idle(CHANNEL))
    assert out.getvalue()[printed:] == "Marta: Marta turns. (stopped)\n"
