"""A scripted engine that answers summary requests, a long scene, and a table with NPCs."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.director import SceneView
from bot.engine.base import CancelToken, Completion, GenerationRequest
from bot.memory.chapters import TITLE_SPEAKER
from bot.memory.service import MemoryCommands
from bot.scenes.service import SceneCommands
from bot.store import SHARED_VIEW, Chapter, Character, Database, StorySummary, view_key
from tests.channel.helpers import ALICE, CHANNEL, GUILD, Tavern, build, gm, marta_scene
from tests.scripted_engine import ScriptedEngine

CLOSE_AT = 60  # turns a story covers before it is closed: a few rounds of the table below
MAX_ROUNDS = 16  # only against a story that never closes
WHISPER = "The ledger is under the third barrel."
TELL = "The harbour master takes bribes."


def is_summary(request: GenerationRequest) -> bool:
    """Whether this is a summariser's request (our instruction asks for the notes)."""
    return "New events:" in request.prompt.text


def is_title(request: GenerationRequest) -> bool:
    """Whether this is the request for a closing chapter's title."""
    return request.prompt.text.endswith(f"{TITLE_SPEAKER}:")


class SummaryEngine(ScriptedEngine):
    """Replies as scripted; a summary request answers "Summary N." or, held, waits for cancel.

    A chapter's title request answers from `titles` while it has some, else " Title N".
    """

    def __init__(self, **scripted: Any) -> None:
        super().__init__(n_ctx=600, **scripted)
        self.titles: deque[str] = deque()
        self.titled: list[GenerationRequest] = []
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
        if is_title(request):
            self.requests.append(request)
            self.titled.append(request)
            title = self.titles.popleft() if self.titles else f" Title {len(self.titled)}"
            return Completion(text=title, finish_reason="stop")
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


@dataclass
class Table:
    """A scene with NPCs and Ayla (Alice's character), over a summarising scripted engine."""

    tavern: Tavern
    engine: SummaryEngine
    scene_id: int
    npcs: dict[str, Character]
    ayla: Character
    said: int = 0

    @property
    def memory(self) -> MemoryCommands:
        return self.tavern.services.get(MemoryCommands)

    async def cast(self, name: str) -> Character:
        """The GM adds a new NPC (no greeting) to the cast."""
        self.npcs[name] = await self.tavern.stores.characters.create(
            guild_id=GUILD, kind="npc", name=name, sheet=f"**Character Name**: {name}"
        )
        await self.tavern.services.get(SceneCommands).add_npc(gm(), name)
        return self.npcs[name]

    async def talk(self, turns: int) -> None:
        """Ayla says `turns` numbered lines everyone present witnesses."""
        for _ in range(turns):
            await self.tavern.stores.turns.append(
                self.scene_id,
                role="user",
                speaker="Ayla",
                content=f"Ayla says line {self.said}.",
                character_id=self.ayla.id,
            )
            self.said += 1

    async def whisper(self, npc: str, text: str = WHISPER) -> None:
        """Ayla whispers to one NPC: only the two of them witness it."""
        await self.tavern.stores.turns.append(
            self.scene_id,
            role="user",
            speaker="Ayla",
            content=text,
            character_id=self.ayla.id,
            kind="whisper",
            audience=[self.npcs[npc].id],
        )

    async def tell(self, npc: str, text: str = TELL) -> None:
        """The GM tells one NPC something only it knows."""
        await self.tavern.stores.turns.append(
            self.scene_id,
            role="narration",
            speaker="GM",
            content=text,
            kind="tell",
            audience=[self.npcs[npc].id],
        )

    async def fold(self) -> int:
        """The chore after a round: each view's story brought up to date by one step."""
        stores = self.tavern.stores

        async def view_of() -> SceneView:
            return await self.memory.views.view(await stores.scenes.get(self.scene_id))

        return await self.memory.summarizer.catch_up(view_of, CancelToken())

    async def stories(self) -> dict[str, StorySummary]:
        return await self.tavern.stores.summaries.views(self.scene_id)

    async def read_by(self, view: str) -> str:
        """What the story of `view` was written from (every request behind it)."""
        story = (await self.stories())[view]
        return read_for(self.engine, story.text)

    def own(self, npc: str) -> str:
        return view_key(self.npcs[npc].id)


async def table(db: Database, *npcs: str, **settings: Any) -> Table:
    """The GM starts a scene in CHANNEL with `npcs`; Alice plays Ayla there."""
    engine = SummaryEngine()
    tavern = build(db, engine=engine, **settings)
    await tavern.services.get(SceneCommands).start(gm(), "group-inst")
    scene = await tavern.stores.scenes.by_channel(CHANNEL)
    assert scene is not None
    ayla = await tavern.stores.characters.create(
        guild_id=GUILD, kind="player", name="Ayla", sheet="A sailor.", owner_id=ALICE
    )
    await tavern.stores.scenes.bind_player(scene.id, ALICE, ayla.id)
    found = Table(tavern, engine, scene.id, {}, ayla)
    for name in npcs:
        await found.cast(name)
    return found


async def chapters(t: Table, view: str = SHARED_VIEW) -> list[Chapter]:
    """The chapters of `view` in the table's scene, oldest first."""
    return await t.tavern.stores.chapters.of_view(t.scene_id, view)


async def rounds_until(t: Table, done: Callable[[], Awaitable[bool]], calls_each: int = 1) -> None:
    """Rounds of 30 turns, each followed by the stories' update, until `done`."""
    for _ in range(MAX_ROUNDS):
        if await done():
            return
        await t.talk(30)
        before = calls(t)
        await t.fold()
        assert calls(t) - before <= calls_each, "one model call per view a round"
    raise AssertionError("never done")


def calls(t: Table) -> int:
    """The summariser's model calls so far: summaries and titles (not the prewarm)."""
    return sum(is_summary(r) or is_title(r) for r in t.engine.requests)


async def has(t: Table, count: int, view: str = SHARED_VIEW) -> bool:
    """Whether `view` has at least `count` chapters."""
    return len(await chapters(t, view)) >= count
