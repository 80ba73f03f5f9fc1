"""Reply mode `table`: the NPCs answer once every present player character has acted.

Who has acted, and the round's timeout, live in the channel session (memory only): after a
restart the next post counts afresh and re-arms the timeout.
"""

from __future__ import annotations

from datetime import datetime

from bot.channel.sessions import ChannelSessions, Trigger
from bot.store import Scene, SceneStore


class TableRounds:
    """Counts the players' posts in `table` mode and holds the round until the table is done."""

    def __init__(
        self, scenes: SceneStore, sessions: ChannelSessions, default_timeout: float
    ) -> None:
        self.scenes = scenes
        self.sessions = sessions
        self.default_timeout = default_timeout

    def timeout(self, scene: Scene) -> float:
        """The scene's round timeout in seconds, else the ROUND_TIMEOUT setting."""
        return float(scene.round_timeout or self.default_timeout)

    async def waiting_for(self, scene: Scene) -> list[str]:
        """The present player characters who have not posted since the last NPC round."""
        table = self.sessions.get(scene.channel_id).table
        present = await self.scenes.players(scene.id, present_only=True)
        return [character.name for _, character in present if not table.has_acted(character.name)]

    async def acted(self, scene: Scene, speaker: str, asked: Trigger | None) -> Trigger | None:
        """Count a post under `speaker`; the round it asks for once nobody else is waited for.

        Until then what it asks is held (names it forced go first when the round runs), and
        the round's first post arms the timeout. `asked` None: the post asks for no round (a
        reply to another player), yet it counts, and the timeout still answers it.
        """
        if speaker:
            self.sessions.get(scene.channel_id).table.act(speaker)
        if asked is not None and not await self.waiting_for(scene):
            return asked
        self.sessions.hold(scene.channel_id, asked or Trigger(may_pass=True), self.timeout(scene))
        return None

    async def status(self, scene: Scene) -> list[str]:
        """`/scene status` lines: whom the table waits for, and a round the model passed."""
        session = self.sessions.get(scene.channel_id)
        lines = []
        if scene.reply_mode == "table":
            waiting = ", ".join(await self.waiting_for(scene)) or "nobody"
            due = session.table.due
            until = f" (the NPCs answer by {_clock(due)} at the latest)" if due else ""
            lines.append(
                f"**Table** waiting for {waiting} · "
                f"**round timeout** {duration(self.timeout(scene))}{until}"
            )
        passed = session.passed
        if passed is not None:
            after = f" after {passed.after}'s post" if passed.after else ""
            lines.append(
                f"**Last round** the NPCs let the players talk (the model passed){after}, "
                f"at {_clock(passed.at)}"
            )
        return lines


def duration(seconds: float) -> str:
    """A round timeout as people say it: 45 s, 5 min, 2 h."""
    whole = round(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600} h"
    if whole % 60 == 0:
        return f"{whole // 60} min"
    return f"{whole} s"


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M} UTC"
