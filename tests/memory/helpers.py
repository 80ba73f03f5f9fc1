"""A scripted engine that also answers summary requests, and a long scene to summarise."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from bot.engine.base import CancelToken, Completion, GenerationRequest
from tests.channel.helpers import CHANNEL, Tavern, build, marta_scene
from tests.scripted_engine import ScriptedEngine


def is_summary(request: GenerationRequest) -> bool:
    """Whether this is a summariser's request (our instruction asks for the notes)."""
    return "New events:" in request.prompt.text


class SummaryEngine(ScriptedEngine):
    """Replies as scripted; a summary request answers "Summary N." or, held, waits for cancel."""

    def __init__(self, **scripted: Any) -> None:
        super().__init__(n_ctx=600, **scripted)
        self.hold = False
        self.held = asyncio.Event()
        self.summaries = 0
        self.running = 0
        self.most_at_once = 0
        self.made: dict[int, GenerationRequest] = {}  # "Summary N." by N: the request behind it

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        if not is_summary(request):
            return await super().complete(request, cancel, on_text)
        self.requests.append(request)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.hold:
                assert cancel is not None, "a summary must pass its cancel token"
                self.held.set()
                while not cancel.cancelled:
                    await asyncio.sleep(0.001)
                return Completion(text="Half a summ", finish_reason="cancelled")
            await asyncio.sleep(0)
            self.summaries += 1
            self.made[self.summaries] = request
            return Completion(text=f" Summary {self.summaries}.", finish_reason="stop")
        finally:
            self.running -= 1


async def long_scene(db: Any, turns: int = 80) -> tuple[Tavern, SummaryEngine, int]:
    """Marta's scene with `turns` short turns, far more than the 600-token window holds."""
    engine = SummaryEngine(texts=[f"Reply {i}." for i in range(50)])
    tavern = build(db, engine=engine)
    scene_id = await marta_scene(tavern)
    for i in range(turns):
        await tavern.stores.turns.append(
            scene_id, role="user", speaker="Ann", content=f"Ann says line {i}."
        )
    assert (await tavern.stores.scenes.by_channel(CHANNEL)) is not None
    return tavern, engine, scene_id


SUMMARY_NUMBER = re.compile(r"Summary (\d+)\.")


def read_for(engine: SummaryEngine, text: str) -> str:
    """Everything the summaries behind `text` read: their requests, back to the first one."""
    read: list[str] = []
    todo = [int(n) for n in SUMMARY_NUMBER.findall(text)]
    while todo:
        number = todo.pop()
        prompt = engine.made[number].prompt.text
        read.append(prompt)
        todo += [int(n) for n in SUMMARY_NUMBER.findall(prompt) if int(n) < number]
    return "\n".join(read)
