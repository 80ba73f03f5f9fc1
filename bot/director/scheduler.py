"""One round at a time per channel; triggers that arrive meanwhile merge into the next round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trigger:
    """Why a round should run: a player message, a mention, or an explicit /reply."""

    forced: str | None = None
    delay: float = 0.0

    def merge(self, newer: Trigger) -> Trigger:
        """The newer trigger's wait wins, but a forced speaker is not forgotten."""
        return Trigger(newer.forced or self.forced, newer.delay)


RoundRunner = Callable[[str, Trigger], Awaitable[None]]


class RoundScheduler:
    """Debounces triggers per channel and never runs two rounds of a channel at once."""

    def __init__(self, run: RoundRunner) -> None:
        self._run = run
        self._pending: dict[str, Trigger] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.rounds_started = 0

    def trigger(self, key: str, trigger: Trigger) -> None:
        """Ask for a round in `key` after `trigger.delay` quiet seconds; a newer one restarts it."""
        old = self._pending.get(key)
        self._pending[key] = old.merge(trigger) if old else trigger
        if key not in self._tasks:  # a running round re-arms the wait when it finishes
            self._arm(key)

    def _arm(self, key: str) -> None:
        if timer := self._timers.pop(key, None):
            timer.cancel()
        delay = self._pending[key].delay
        if delay <= 0:
            self._start(key)
        else:
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._start, key)

    def busy(self, key: str) -> bool:
        """Whether a round is running or waiting in this channel."""
        return key in self._tasks or key in self._timers

    def cancel_pending(self, key: str) -> None:
        """Forget a waiting trigger (scene ended or cleared)."""
        self._pending.pop(key, None)
        if timer := self._timers.pop(key, None):
            timer.cancel()

    def _start(self, key: str) -> None:
        self._timers.pop(key, None)
        if key in self._tasks or key not in self._pending:
            return
        trigger = self._pending.pop(key)
        self._tasks[key] = asyncio.get_running_loop().create_task(self._once(key, trigger))

    async def _once(self, key: str, trigger: Trigger) -> None:
        self.rounds_started += 1
        try:
            await self._run(key, trigger)
        except Exception:
            log.exception("round in %s failed", key)
        finally:
            self._tasks.pop(key, None)
            # Messages that came in during the round wait for their own quiet period.
            if key in self._pending:
                self._arm(key)

    async def wait_idle(self, key: str | None = None) -> None:
        """Wait until no round runs or waits (in `key`, or anywhere)."""
        while True:
            keys = [key] if key else list({*self._tasks, *self._timers})
            tasks = [self._tasks[k] for k in keys if k in self._tasks]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            elif any(k in self._timers for k in keys):
                await asyncio.sleep(0.01)
            else:
                return

    async def close(self) -> None:
        """Cancel waiting triggers and running rounds."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
