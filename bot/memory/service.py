"""`/scene memory`: each view's story so far, read, edited and cleared by a GM, kept up to date."""

from __future__ import annotations

from collections.abc import Collection

from bot.channel.access import Access
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.channel.sessions import ChannelSession
from bot.director import SceneView
from bot.domain import CancelToken
from bot.errors import UserError
from bot.memory import Summarizer
from bot.memory.chapter_commands import ChapterCommands
from bot.memory.chapters import ChapterConfig
from bot.memory.views import character_of
from bot.scenes.views import SceneViews
from bot.store import (
    SHARED_VIEW,
    Chapter,
    NewChapter,
    NotFoundError,
    Stores,
    StorySummary,
    view_key,
)

SUMMARY_MAX_CHARS = 4000
SHOWN_MAX_CHARS = 1800  # a Discord message holds 2,000; longer ones come as a file
MESSAGE_MAX_CHARS = 2000
OWN_LISTED = 10  # NPCs with their own story named by /scene memory show; the rest counted
TYPED_MAX = 80
FILE_NAME = "story-so-far.txt"


def describe(summary: StorySummary | None, chapters: int = 0, begins: int = 0) -> str:
    """One line on what the story so far covers (after `chapters` ending at turn `begins`)."""
    after = ""
    if chapters:
        closed = "one chapter" if chapters == 1 else f"{chapters} chapters"
        after = f", after {closed} (/scene chapters list)"
    if summary is None:
        return f"No story so far yet{after}: it is written once the history outgrows the prompt."
    return f"The story so far covers turns {begins + 1}–{summary.through}{after}."


def own_stories(named: list[tuple[str, StorySummary]], ends: dict[str, int] | None = None) -> str:
    """The line naming the NPCs with a story of their own and what each covers ("" if none).

    `ends`: by name, the last turn of the chapters each one's story goes on after.
    """
    if not named:
        return ""
    ends = ends or {}
    shown = [
        f"{name} (turns {ends.get(name, 0) + 1}–{own.through})" for name, own in named[:OWN_LISTED]
    ]
    if len(named) > OWN_LISTED:
        shown.append(f"{len(named) - OWN_LISTED} more")
    return (
        "Their own story, from what they witnessed (they missed turns or know secrets): "
        + ", ".join(shown)
        + "."
    )


def with_text(note: str, text: str) -> Reply:
    """`note` and a story's text: in the message if it fits, else as a file."""
    message = f"{note}\n>>> {text}"
    if len(text) > SHOWN_MAX_CHARS or len(message) > MESSAGE_MAX_CHARS:
        return Reply(note, file=(FILE_NAME, text.encode()))
    return Reply(message)


def typed(name: str) -> str:
    """A name someone typed, as an error repeats it: one line, bounded."""
    flat = " ".join(name.split()) or "(no name)"
    return flat if len(flat) <= TYPED_MAX else flat[: TYPED_MAX - 1] + "…"


class MemoryCommands:
    """The GM's view of each running summary, and the update after each round."""

    def __init__(
        self, stores: Stores, views: SceneViews, access: Access, summarizer: Summarizer
    ) -> None:
        self.stores = stores
        self.views = views
        self.access = access
        self.summarizer = summarizer
        self.chapters = ChapterCommands(stores, access, summarizer, self)

    async def show(self, actor: Actor, as_npc: str | None = None) -> Reply:
        """The shared story and who has their own; `as_npc`: that NPC's own story."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        stored = await self.stores.summaries.views(scene.id)
        if as_npc is not None:
            npc_id, name = await self.find_npc(scene.id, as_npc, stored)
            return await self._show_own(scene.id, npc_id, name, stored)
        shared = stored.get(SHARED_VIEW)
        names = await self.names(scene.id, stored)
        named = sorted(
            ((names[key], own) for key, own in stored.items() if key in names),
            key=lambda pair: pair[0].casefold(),
        )
        closed = await self.stores.chapters.of_view(scene.id)
        begins = closed[-1].last_seq if closed else 0
        ends = await self.stores.chapters.ends(scene.id)
        after = {names[key]: end for key, end in ends.items() if key in names}
        lines = (describe(shared, len(closed), begins), own_stories(named, after))
        note = "\n".join(line for line in lines if line)
        return Reply(note) if shared is None else with_text(note, shared.text)

    async def _show_own(
        self, scene_id: int, npc_id: int, name: str, stored: dict[str, StorySummary]
    ) -> Reply:
        own = stored.get(view_key(npc_id))
        if own is not None:
            closed = await self.stores.chapters.of_view(scene_id, view_key(npc_id))
            begins = closed[-1].last_seq if closed else 0
            covers = describe(own, len(closed), begins).removeprefix("The story so far ")
            return with_text(f"{name}'s own story so far {covers}", own.text)
        shared = stored.get(SHARED_VIEW)
        if shared is None or not await self.stores.turns.has_own_view(
            scene_id, npc_id, shared.through
        ):
            return Reply(f"{name} has no story of its own: it shares the scene's.")
        return Reply(
            f"{name} has no story of its own yet, and the shared one tells of turns it did not "
            "witness (or lacks its secrets): its prompt has none."
        )

    async def edit(self, actor: Actor, text: str, as_npc: str | None = None) -> Reply:
        """Replace the shared story's text (`as_npc`: that NPC's own).

        A new summary covers every turn older than the prompt window.
        """
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        cleaned = text.strip()
        if not cleaned:
            raise UserError("The story so far needs some text; /scene memory clear removes it.")
        if len(cleaned) > SUMMARY_MAX_CHARS:
            raise UserError(f"The story so far is limited to {SUMMARY_MAX_CHARS} characters.")
        view, npc, whose = SHARED_VIEW, None, "Story so far"
        if as_npc is not None:
            npc = await self.find_npc(scene.id, as_npc, await self.stores.summaries.views(scene.id))
            view, whose = view_key(npc[0]), f"{npc[1]}'s own story so far"
        summary = await self.stores.summaries.get(scene.id, view)
        closed = await self.stores.chapters.of_view(scene.id, view)
        if summary is None:
            begins, through = await self._new_story(scene.id, view, npc, cleaned, closed)
        else:
            begins, through = closed[-1].last_seq if closed else 0, summary.through
            await self.stores.summaries.put(scene.id, StorySummary(cleaned, through), view=view)
        return Reply(f"{whose} updated: it covers turns {begins + 1}–{through}.")

    async def clear(self, actor: Actor) -> Reply:
        """Forget the story so far of every view: the shared one and each NPC's own."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        own = sum(key != SHARED_VIEW for key in await self.stores.summaries.views(scene.id))
        if not await self.stores.summaries.clear(scene.id):
            return Reply("There was no story so far to clear.")
        also = f" (and {own} NPCs' own)" if own > 1 else " (and one NPC's own)" if own else ""
        return Reply(
            f"Story so far cleared{also}: the turns it covered are back in the prompt's reach."
        )

    async def names(self, scene_id: int, keys: Collection[str]) -> dict[str, str]:
        """The name of the character of each own view key (deleted ones left out)."""
        known = {view_key(c.id): c.name for c in await self.stores.scenes.characters(scene_id)}
        names = {}
        for key in keys:
            if key in known:
                names[key] = known[key]
            elif (character_id := character_of(key)) is not None:
                try:
                    names[key] = (await self.stores.characters.get(character_id)).name
                except NotFoundError:
                    continue  # deleted since: its story speaks in no prompt
        return names

    async def find_npc(
        self, scene_id: int, typed_name: str, keys: Collection[str]
    ) -> tuple[int, str]:
        """The NPC of the cast (or with a view among `keys`) called `typed_name`: id and name."""
        folded = typed_name.strip().casefold()
        for npc in await self.stores.scenes.cast(scene_id):
            if npc.name.casefold() == folded:
                return npc.id, npc.name
        for key, name in (await self.names(scene_id, keys)).items():
            character_id = character_of(key)
            if character_id is not None and name.casefold() == folded:
                return character_id, name
        raise UserError(f"{typed(typed_name)} is not in this scene's cast.")

    async def _new_story(
        self,
        scene_id: int,
        view: str,
        npc: tuple[int, str] | None,
        text: str,
        closed: list[Chapter],
    ) -> tuple[int, int]:
        """Store a GM's story where the view had none; the turns it covers (first - 1, last).

        It covers what the one it replaces did, or all the prompt lacks after the chapters.
        """
        shared = await self.stores.summaries.get(scene_id)
        if (
            npc is not None
            and not closed
            and shared is not None
            and not await self.stores.turns.has_own_view(scene_id, npc[0], shared.through)
        ):
            # The NPC read the shared story until now: the shared chapters are its past too.
            inherited = await self.stores.chapters.of_view(scene_id)
            copies = [NewChapter(c.title, c.text, c.first_seq, c.last_seq) for c in inherited]
            story = StorySummary(text, shared.through)
            if not await self.stores.chapters.advance(
                scene_id, view, story, expect=None, chapters=copies
            ):
                raise UserError("The story so far changed meanwhile; try again.")
            return (inherited[-1].last_seq if inherited else 0), shared.through
        begins = closed[-1].last_seq if closed else 0
        window = await self._window_start(scene_id, npc[1] if npc else None)
        through = max(window - 1, begins)
        await self.stores.summaries.put(scene_id, StorySummary(text, through), view=view)
        return begins, through

    async def _window_start(self, scene_id: int, speaker: str | None = None) -> int:
        """The seq of the oldest turn the next prompt (`speaker`'s) keeps (1 if none trimmed)."""
        scene = await self.stores.scenes.get(scene_id)
        view = await self.views.view(scene)
        plan = await self.summarizer.director.build_prompt(view, speaker=speaker)
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
    """The story-so-far feature; it brings the summary up to date after every posted round.

    And closes each view's story as a chapter when it covers `CHAPTER_TURNS` turns.
    """
    settings = deps.settings
    config = ChapterConfig(settings.chapter_turns, settings.chapter_max_tokens)
    deps.summarizer.use_chapters(deps.stores.chapters, config)
    memory = MemoryCommands(deps.stores, deps.views, deps.access, deps.summarizer)
    deps.sessions.after_rounds(memory.after_round)
    return memory
