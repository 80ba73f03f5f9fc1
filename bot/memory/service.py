"""`/scene memory`: the story so far, read, edited and cleared by a GM, and kept up to date."""

from __future__ import annotations

from bot.channel.access import Access
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.channel.sessions import ChannelSession
from bot.director import SceneView
from bot.domain import CancelToken
from bot.errors import UserError
from bot.memory import Summarizer
from bot.scenes.views import SceneViews
from bot.store import Stores, StorySummary

SUMMARY_MAX_CHARS = 4000
SHOWN_MAX_CHARS = 1800  # a Discord message holds 2,000; longer ones come as a file


def describe(summary: StorySummary | None) -> str:
    """One line on what the story so far covers."""
    if summary is None:
        return "No story so far yet: it is written once the history outgrows the prompt."
    return f"The story so far covers turns 1–{summary.through}."


class MemoryCommands:
    """The GM's view of the running summary, and the update after each round."""

    def __init__(
        self, stores: Stores, views: SceneViews, access: Access, summarizer: Summarizer
    ) -> None:
        self.stores = stores
        self.views = views
        self.access = access
        self.summarizer = summarizer

    async def show(self, actor: Actor) -> Reply:
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        summary = await self.stores.summaries.get(scene.id)
        note = describe(summary)
        if summary is None:
            return Reply(note)
        if len(summary.text) > SHOWN_MAX_CHARS:
            return Reply(note, file=("story-so-far.txt", summary.text.encode()))
        return Reply(f"{note}\n>>> {summary.text}")

    async def edit(self, actor: Actor, text: str) -> Reply:
        """Replace the text; a new summary covers every turn older than the prompt window."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        cleaned = text.strip()
        if not cleaned:
            raise UserError("The story so far needs some text; /scene memory clear removes it.")
        if len(cleaned) > SUMMARY_MAX_CHARS:
            raise UserError(f"The story so far is limited to {SUMMARY_MAX_CHARS} characters.")
        summary = await self.stores.summaries.get(scene.id)
        through = summary.through if summary else await self._window_start(scene.id) - 1
        await self.stores.summaries.put(scene.id, StorySummary(cleaned, through))
        return Reply(f"Story so far updated. {describe(StorySummary(cleaned, through))}")

    async def clear(self, actor: Actor) -> Reply:
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        if not await self.stores.summaries.clear(scene.id):
            return Reply("There was no story so far to clear.")
        return Reply("Story so far cleared: the turns it covered are back in the prompt's reach.")

    async def _window_start(self, scene_id: int) -> int:
        """The seq of the oldest turn the next prompt keeps (1 when nothing is trimmed)."""
        scene = await self.stores.scenes.get(scene_id)
        plan = await self.summarizer.director.build_prompt(await self.views.view(scene))
        if plan.budget.trimmed and plan.history:
            return plan.history[0].seq
        return 1

    async def after_round(self, session: ChannelSession, cancel: CancelToken) -> None:
        """Bring the story so far up to date (the session runs this after a posted round)."""

        async def view() -> SceneView | None:
            scene = await self.stores.scenes.by_channel(session.channel_id)
            return None if scene is None else await self.views.view(scene)

        await self.summarizer.catch_up(view, cancel)


def build(deps: ChannelDeps) -> MemoryCommands:
    """The story-so-far feature; it brings the summary up to date after every posted round."""
    memory = MemoryCommands(deps.stores, deps.views, deps.access, deps.summarizer)
    deps.sessions.after_rounds(memory.after_round)
    return memory
