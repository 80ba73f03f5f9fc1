"""The story so far: turns that left the prompt window, folded into a running summary."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.director import SceneView, StoredTurn, TurnDirector
from bot.director.director import engine_failures
from bot.director.types import DirectorEngine, DirectorError
from bot.domain import CancelToken
from bot.engine.base import GenerationRequest
from bot.memory.prompt import summary_request, summary_stops, tidy_summary, transcript
from bot.prompts import Prompt, is_ooc
from bot.store import StorySummary, SummaryStore

log = logging.getLogger(__name__)


class SummaryTurns(Protocol):
    """The part of the turn store the summariser reads."""

    async def lines_after(
        self, scene_id: int, after_seq: int, limit: int, *, before_seq: int | None = None
    ) -> Sequence[StoredTurn]: ...


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
    """Decides when the story so far is due and runs one update step at a time."""

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

    @property
    def max_tokens(self) -> int:
        """The summary's length limit in tokens."""
        return max(16, min(self.config.max_tokens, self.engine.n_ctx // 8))

    async def due(self, scene: SceneView) -> int | None:
        """The seq of the first turn in the window when enough turns left it uncovered."""
        plan = await self.director.build_prompt(scene)
        if not plan.budget.trimmed or not plan.history:
            return None
        first_kept = plan.history[0].seq
        uncovered = await self.turns.lines_after(
            scene.scene_id, scene.summary_through, self.config.min_turns, before_seq=first_kept
        )
        return first_kept if len(uncovered) >= self.config.min_turns else None

    async def step(self, scene: SceneView, cancel: CancelToken) -> StorySummary | None:
        """Fold the oldest uncovered turns into the summary; None if not due, cut off or raced."""
        first_kept = await self.due(scene)
        if first_kept is None or cancel.cancelled:
            return None
        previous = await self.summaries.get(scene.scene_id)
        through = previous.through if previous else 0
        old = await self.turns.lines_after(
            scene.scene_id, through, self.config.chunk_turns, before_seq=first_kept
        )
        lines, covered = await self._fitting(scene, previous, old)
        if not lines:
            return None
        words = self.max_tokens * 3 // 4
        request = GenerationRequest(
            prompt=summary_request(scene.fmt, previous.text if previous else None, lines, words),
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
        if not await self.summaries.replace(scene.scene_id, summary, expect=previous):
            return None
        return summary

    async def _fitting(
        self, scene: SceneView, previous: StorySummary | None, old: Sequence[StoredTurn]
    ) -> tuple[list[tuple[str, str]], int]:
        """The oldest of `old` that fit one request, and the seq of the last turn they cover."""
        base = summary_request(scene.fmt, previous.text if previous else None, [], 0)
        (used,) = await self.engine.count_many([base])
        room = self.engine.n_ctx - self.max_tokens - self.config.margin - used
        counts = await self.engine.count_many(
            [Prompt.plain(transcript([(t.speaker, t.content)]) + "\n") for t in old]
        )
        lines: list[tuple[str, str]] = []
        covered = 0
        for turn, n in zip(old, counts, strict=True):
            if is_ooc(turn.content):  # covered (it never reaches a prompt), not summarised
                covered = turn.seq
                continue
            room -= n
            if room < 0:
                break
            lines.append((turn.speaker, turn.content))
            covered = turn.seq
        return lines, covered

    async def catch_up(
        self, view_of: Callable[[], Awaitable[SceneView | None]], cancel: CancelToken
    ) -> int:
        """Run steps until nothing is due or `cancel` is set; returns how many were stored."""
        stored = 0
        while not cancel.cancelled:
            scene = await view_of()
            if scene is None:
                break
            try:
                if await self.step(scene, cancel) is None:
                    break
            except DirectorError as exc:
                log.warning("story-so-far update failed: %s", exc)
                break
            stored += 1
        if stored and not cancel.cancelled:
            await self._prewarm(view_of, cancel)
        return stored

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
