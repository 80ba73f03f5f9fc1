"""The story so far: turns that left the prompt window, folded into each view's summary."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.director import SceneView, TurnDirector
from bot.director.director import engine_failures
from bot.director.types import DirectorEngine, DirectorError
from bot.domain import CancelToken
from bot.engine.base import GenerationRequest
from bot.memory.chapters import ChapterConfig, Chapters
from bot.memory.prompt import said_by, summary_request, summary_stops, tidy_summary, transcript
from bot.memory.views import OwnViews, ViewStep, own_steps, shared_step
from bot.prompts import Prompt, is_ooc
from bot.store import SHARED_VIEW, ChapterStore, NewChapter, StorySummary, SummaryStore

log = logging.getLogger(__name__)


class SummaryLine(Protocol):
    """What the summariser reads of a stored turn."""

    @property
    def seq(self) -> int: ...

    @property
    def speaker(self) -> str: ...

    @property
    def content(self) -> str: ...

    @property
    def kind(self) -> str: ...


class SummaryTurns(OwnViews, Protocol):
    """The part of the turn store the summariser reads."""

    async def lines_after(
        self,
        scene_id: int,
        after_seq: int,
        limit: int,
        *,
        before_seq: int | None = None,
        witness: int | None = None,
    ) -> Sequence[SummaryLine]: ...


@dataclass(frozen=True)
class SummaryConfig:
    """How often and how much the story so far is rewritten."""

    # Coarse steps: only this many uncovered turns start an update, so the prompt prefix
    # (system block, summary, window start) changes rarely and the KV cache stays valid.
    min_turns: int = 16
    max_tokens: int = 256  # the summary's length limit (and never more than n_ctx / 8)
    chunk_turns: int = 96  # at most this many old turns are read for one step
    margin: int = 32


class Summarizer:
    """Decides which views' stories are due and runs one update step for each."""

    def __init__(
        self,
        engine: DirectorEngine,
        director: TurnDirector,
        turns: SummaryTurns,
        summaries: SummaryStore,
        config: SummaryConfig | None = None,
    ) -> None:
        self.engine = engine
        self.director = director
        self.turns = turns
        self.summaries = summaries
        self.config = config or SummaryConfig()
        self.chapters: Chapters | None = None

    def use_chapters(self, store: ChapterStore, config: ChapterConfig) -> None:
        """Close each view's story as a chapter once it covers `config.turns` turns."""
        self.chapters = Chapters(self.engine, store, config)

    @property
    def max_tokens(self) -> int:
        """The summary's length limit in tokens."""
        return max(16, min(self.config.max_tokens, self.engine.n_ctx // 8))

    async def boundary(self, scene: SceneView) -> int | None:
        """The seq of the first turn of the scene's prompt window: older turns may be folded.

        Every view folds up to the same turn, the one the whole scene's window starts at, so
        each story covers what left the window and no view's story runs ahead of the others.
        """
        plan = await self.director.build_prompt(scene)
        return plan.history[0].seq if plan.history else None

    async def steps(self, scene: SceneView, boundary: int) -> list[ViewStep]:
        """The views a round updates: the shared story, then each NPC of the cast with its own.

        Only the cast's NPCs: one that left keeps its story as it was, since it speaks in
        no prompt until it comes back, and it missed what happened meanwhile anyway.
        """
        stored = await self.summaries.views(scene.scene_id)
        ends = await self.chapters.store.ends(scene.scene_id) if self.chapters else {}
        shared = shared_step(stored.get(SHARED_VIEW), ends.get(SHARED_VIEW, 0))
        own = await own_steps(self.turns, scene.scene_id, scene.npcs, stored, boundary, ends)
        if self.chapters and SHARED_VIEW in ends and any(step.forks for step in own):
            # A view forking from the shared story takes the chapters before it as its own:
            # the chapters of a view with its own story are all of its past.
            inherits = tuple(
                NewChapter(c.title, c.text, c.first_seq, c.last_seq)
                for c in await self.chapters.store.of_view(scene.scene_id)
            )
            own = [replace(step, inherits=inherits) if step.forks else step for step in own]
        return [shared, *own]

    async def _fold(
        self, scene: SceneView, view: ViewStep, boundary: int, cancel: CancelToken
    ) -> StorySummary | None:
        """One step of `view`: its turns after its story, before `boundary`, if enough wait.

        Or, if its story is due to close, closing it as a chapter: either is one model call.
        """
        if self.chapters is not None and await self.chapters.due(view, self.max_tokens):
            words = self.max_tokens * 3 // 4
            return await self.chapters.close(scene, view, words, cancel)
        old = await self.turns.lines_after(
            scene.scene_id,
            view.through,
            max(self.config.chunk_turns, self.config.min_turns),
            before_seq=boundary,
            witness=view.witness,
        )
        if len(old) < self.config.min_turns:
            return None
        previous = view.start.text if view.start else None
        lines, covered = await self._fitting(scene, previous, old)
        if not lines:
            return None
        words = self.max_tokens * 3 // 4
        request = GenerationRequest(
            prompt=summary_request(scene.fmt, previous, lines, words),
            sampler=replace(
                scene.sampler,
                max_tokens=self.max_tokens,
                temperature=min(scene.sampler.temperature, 0.5),
            ),
            stops=summary_stops(scene.fmt),
            channel=None,  # keeps the channel's KV snapshot for its next reply
        )
        with engine_failures():
            completion = await self.engine.complete(request, cancel)
        if cancel.cancelled or completion.finish_reason == "cancelled":
            return None  # nothing half-made is stored
        text = tidy_summary(completion.text, completion.finish_reason == "length")
        if not text:
            log.info("empty summary for scene %s; will try again later", scene.scene_id)
            return None
        summary = StorySummary(text, covered)
        if not await self._store(scene.scene_id, view, summary):
            return None
        return summary

    async def _store(self, scene_id: int, view: ViewStep, summary: StorySummary) -> bool:
        """Write `view`'s new story, with the chapters it inherits if it forks; False if beaten."""
        if view.inherits and self.chapters is not None:
            return await self.chapters.store.advance(
                scene_id, view.key, summary, expect=view.stored, chapters=view.inherits
            )
        return await self.summaries.replace(scene_id, summary, expect=view.stored, view=view.key)

    async def _fitting(
        self, scene: SceneView, previous: str | None, old: Sequence[SummaryLine]
    ) -> tuple[list[tuple[str, str]], int]:
        """The oldest of `old` that fit one request, and the seq of the last turn they cover."""
        base = summary_request(scene.fmt, previous, [], 0)
        (used,) = await self.engine.count_many([base])
        room = self.engine.n_ctx - self.max_tokens - self.config.margin - used
        lines = [(said_by(t.speaker, t.kind), t.content) for t in old]
        counts = await self.engine.count_many(
            [Prompt.plain(transcript([ln]) + "\n") for ln in lines]
        )
        fitting: list[tuple[str, str]] = []
        covered = 0
        for turn, line, n in zip(old, lines, counts, strict=True):
            if is_ooc(turn.content):  # covered (it never reaches a prompt), not summarised
                covered = turn.seq
                continue
            room -= n
            if room < 0:
                break
            fitting.append(line)
            covered = turn.seq
        return fitting, covered

    async def catch_up(
        self, view_of: Callable[[], Awaitable[SceneView | None]], cancel: CancelToken
    ) -> int:
        """One step for each view that is due (the shared one first); how many were stored.

        The session runs this after every posted round. At most one step per view and only
        the cast's views: each step is a model call on the engine every channel shares, so a
        round's chores cost at most one call per NPC in the cast, however far behind a story
        is; a long backlog is caught up a step per round (each step folds all that fits).
        """
        scene = await view_of()
        if scene is None or cancel.cancelled:
            return 0
        boundary = await self.boundary(scene)
        if boundary is None:
            return 0
        stored: list[str] = []
        for view in await self.steps(scene, boundary):
            if cancel.cancelled:
                break
            try:
                if await self._fold(scene, view, boundary, cancel) is not None:
                    stored.append(view.key)
            except DirectorError as exc:
                log.warning("story-so-far update failed: %s", exc)
                break
        # Only the shared story is in the prompt the channel keeps warm (the speaker choice's).
        if SHARED_VIEW in stored and not cancel.cancelled:
            await self._prewarm(view_of, cancel)
        return len(stored)

    async def _prewarm(
        self, view_of: Callable[[], Awaitable[SceneView | None]], cancel: CancelToken
    ) -> None:
        """Evaluate the channel's new prompt now, so its next reply finds the prefix cached.

        A new summary changes the prompt right after the system block; without this, the
        next reply would evaluate its whole history again before its first token.
        """
        scene = await view_of()
        if scene is None:
            return
        plan = await self.director.build_prompt(scene)
        request = GenerationRequest(
            prompt=plan.rendered.prompt,
            sampler=replace(scene.sampler, max_tokens=1),
            channel=scene.channel_key,
        )
        with engine_failures():
            await self.engine.complete(request, cancel)
