"""Campaign recall: old moments back in NPCs' prompts, and `/scene recall` to try a query."""

from __future__ import annotations

from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.channel.sessions import ChannelSession
from bot.channel.text import MESSAGE_LIMIT
from bot.director import TurnDirector
from bot.director.types import RecallQuery
from bot.domain import CancelToken
from bot.errors import UserError
from bot.recall import wording
from bot.recall.embedder import Embedder
from bot.recall.rules import query_words
from bot.recall.source import SceneRecall
from bot.scenes.views import SceneViews
from bot.settings import Settings
from bot.store import Stores
from bot.store.turn_reads import NO_SEQ

CHOICES_MAX = 25  # Discord's autocomplete limit


class RecallError(UserError):
    """A recall query that cannot run; the message is for the person who asked."""


def plug_recall(views: SceneViews, stores: Stores, settings: Settings) -> SceneRecall:
    """Every scene view `views` builds recalls through the store within `RECALL_BUDGET`.

    With RECALL_EMBED_MODEL set (and recall on), by meaning too: the model loads on first use,
    on its own worker thread.
    """
    embedder = None
    if settings.recall_embed_model is not None and settings.recall_budget > 0:
        embedder = Embedder(
            settings.recall_embed_model,
            # The embedding model is small: all on the GPU unless the settings keep it off.
            gpu_layers=0 if settings.n_gpu_layers == "0" else -1,
            threads=settings.n_threads,
        )
    source = SceneRecall(stores.recall, settings.recall_budget, embedder)
    views.use_recall(source if settings.recall_budget > 0 else None)
    return source


class RecallCommands:
    """`/scene recall`: what a query would bring back into an NPC's prompt, and why."""

    def __init__(self, deps: ChannelDeps) -> None:
        self.access = deps.access
        self.scenes = deps.stores.scenes
        self.views = deps.views
        self.director: TurnDirector = deps.director
        self.source = plug_recall(deps.views, deps.stores, deps.settings)
        if self.source.backlog is not None:
            deps.sessions.after_rounds(self.after_round)

    async def after_round(self, session: ChannelSession, cancel: CancelToken) -> None:
        """Embed what the channel's scene said that has no vector yet (see `backlog`)."""
        scene = await self.scenes.by_channel(session.channel_id)
        if scene is not None:
            await self.source.catch_up(scene.id, cancel)

    async def close(self) -> None:
        """Free the embedding model and its thread, if recall loaded one."""
        if self.source.embedder is not None:
            await self.source.embedder.close()

    async def query(self, actor: Actor, text: str, npc: str | None = None) -> Reply:
        """The turns and chapters `text` finds in `npc`'s view (the whole scene without one)."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        if len(text) > wording.QUERY_MAX_CHARS:
            raise RecallError(f"A query is limited to {wording.QUERY_MAX_CHARS} characters.")
        view = await self.views.view(scene)
        speaker = None
        if npc is not None and npc.strip():
            member = view.npc(npc.strip())
            if member is None:
                raise RecallError(f"{wording.snippet(npc, 80)} is not in this scene's cast.")
            speaker = member.name
        # The window the speaker's next prompt holds: recall reads only what is older.
        plan = await self.director.build_prompt(view, speaker)
        start = plan.history[0].seq if plan.history else None
        witness = view.witness(speaker)
        folded = (speaker or "").casefold()
        persona = next((p for p in view.context.npcs if p.name.casefold() == folded), None)
        sheet = persona.as_read_by_owner().sheet if persona else ""
        candidates = query_words((text,), speaker or "", sheet)
        words = await self.source.words(candidates)
        if not words:
            raise RecallError(wording.no_words(candidates))
        query = RecallQuery(
            scene_id=scene.id,
            witness=witness,
            speaker=speaker or "",
            sheet=sheet,
            recent=(text,),
            before_seq=start or NO_SEQ,
            own_story=witness is not None and witness in view.stories,
        )
        found = await self.source.search(query, words)
        who = speaker or "the whole scene"
        report = wording.query_report(found.words, found.memories, who, start)
        if len(report) > MESSAGE_LIMIT:
            head = report.split("\n", 1)[0]
            file = ("recall.txt", (report + "\n").encode())
            return Reply(head[: MESSAGE_LIMIT - 40] + "\nSee recall.txt.", file=file)
        return Reply(report)

    async def cast_names(self, actor: Actor, prefix: str) -> list[str]:
        """Autocomplete: the names of this channel's cast that start with `prefix`."""
        scene = await self.scenes.by_channel(actor.channel_id)
        if scene is None:
            return []
        folded = prefix.casefold()
        names = [c.name for c in await self.scenes.cast(scene.id)]
        return [n for n in names if n.casefold().startswith(folded)][:CHOICES_MAX]


def build(deps: ChannelDeps) -> RecallCommands:
    """The recall feature over the shared channel parts: plugs recall into the scene views."""
    return RecallCommands(deps)
