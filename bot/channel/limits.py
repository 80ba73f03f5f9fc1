"""Discord's budget for showing turns as they are written: per channel, per webhook, fairly.

Discord limits a channel's message posts and edits (about 5 in 5 s) and a webhook's requests
(about 5 in 2 s), and a webhook is shared by its channel's threads. Updates of a turn being
written are paced within both: at least `gap` apart in a channel, and always leaving `spare`
room in each window, so the update that shows the finished turn (the `final` one) never waits
behind them. Channels that share a webhook take its room in the order they asked for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Time for the limiter: read it and wait on it (tests pass one that never sleeps)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The process's monotonic clock and asyncio's sleep."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Window:
    """At most `limit` requests in any `seconds`."""

    limit: int
    seconds: float


CHANNEL_WINDOW = Window(5, 5.0)
WEBHOOK_WINDOW = Window(5, 2.0)
UPDATE_GAP = 1.0  # seconds between two updates of the turns of one channel
# How long a channel waiting for a webhook's room keeps its place without asking again.
QUEUE_GRACE = 10.0
MIN_WAIT = 0.05  # seconds, when the room is free but other channels are ahead
PRUNE_AT = 64  # channels kept before the idle ones are forgotten


class _Sent:
    """When the requests of one channel or one webhook went out, within its window."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.times: deque[float] = deque()

    def room(self, now: float) -> int:
        while self.times and self.times[0] <= now - self.window.seconds:
            self.times.popleft()
        return self.window.limit - len(self.times)

    def frees_in(self, now: float) -> float:
        """Seconds until the oldest request leaves the window."""
        return self.times[0] + self.window.seconds - now if self.times else 0.0


class EditLimiter:
    """Says when the next update of a turn being written may go out (see the module doc)."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        channel: Window = CHANNEL_WINDOW,
        webhook: Window = WEBHOOK_WINDOW,
        gap: float = UPDATE_GAP,
        spare: int = 1,
    ) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.channel_window, self.webhook_window = channel, webhook
        self.gap, self.spare = gap, spare
        self._channels: dict[int, _Sent] = {}
        self._webhooks: dict[int, _Sent] = {}
        self._last: dict[int, float] = {}  # each channel's last update
        # Per webhook, the channels waiting for its room, in order: when each last asked, and
        # whether for a final update.
        self._queues: dict[int, dict[int, tuple[float, bool]]] = {}

    def ask(self, channel_id: int, webhook: int, *, final: bool = False) -> float:
        """0.0 when the update may go now (it is counted); else seconds to wait, then ask again."""
        now = self.clock.now()
        if len(self._channels) > PRUNE_AT:
            self._prune(now)
        sent = self._channels.setdefault(channel_id, _Sent(self.channel_window))
        hook = self._webhooks.setdefault(webhook, _Sent(self.webhook_window))
        keep = 0 if final else self.spare
        waits = []
        if sent.room(now) <= keep:
            waits.append(sent.frees_in(now))
        if not final and channel_id in self._last:
            waits.append(self._last[channel_id] + self.gap - now)
        if any(wait > 0 for wait in waits):
            self.leave(channel_id, webhook)  # its own pace holds it: no place in the queue
            return max(waits)
        queue = self._queues.setdefault(webhook, {})
        for other, (asked, _) in list(queue.items()):  # a channel that stopped asking left
            if asked < now - QUEUE_GRACE:
                del queue[other]
        queue[channel_id] = (now, final)
        # A final update waits only behind other final ones: the spare room is theirs.
        before = list(queue.items())[: list(queue).index(channel_id)]
        ahead = sum(1 for _, (_, other_final) in before if other_final or not final)
        if hook.room(now) - keep <= ahead:
            return max(hook.frees_in(now), MIN_WAIT)
        del queue[channel_id]
        sent.times.append(now)
        hook.times.append(now)
        self._last[channel_id] = now
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget channels and webhooks with nothing in their windows and nobody waiting."""
        for key, sent in list(self._channels.items()):
            if sent.room(now) == sent.window.limit and self._last.get(key, now) <= now - self.gap:
                del self._channels[key]
                self._last.pop(key, None)
        for key, hook in list(self._webhooks.items()):
            if hook.room(now) == hook.window.limit and key not in self._queues:
                del self._webhooks[key]

    def leave(self, channel_id: int, webhook: int) -> None:
        """The channel no longer waits for the webhook's room (its update was dropped)."""
        queue = self._queues.get(webhook)
        if queue is not None:
            queue.pop(channel_id, None)
            if not queue:
                del self._queues[webhook]

    async def take(self, channel_id: int, webhook: int, *, final: bool = False) -> None:
        """Wait until the update may go out, and count it."""
        try:
            while (wait := self.ask(channel_id, webhook, final=final)) > 0:
                await self.clock.sleep(wait)
        except BaseException:
            self.leave(channel_id, webhook)
            raise
