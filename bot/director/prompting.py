"""The exact prompt for the next model turn: system block, lore, story so far and history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.director.budget import BudgetPlan, TokenCounter, plan_window
from bot.director.lore import ShortfallLog, fired_lore, lore_tokens
from bot.director.mechanics import system_block
from bot.director.types import (
    DirectorEngine,
    DirectorError,
    PromptPlan,
    SceneView,
    StoredTurn,
    TurnHistory,
)
from bot.domain import ROLES, PromptTurn, Role
from bot.lore.placement import LoreActivation
from bot.lore.stable import LoreLayout, LoreLayouts
from bot.names import speaker_name
from bot.prompts import is_ooc, prompt_header, render_prompt, summary_block

HISTORY_PAGE = 128


class PromptBuilder:
    """Builds prompts within the context budget, keeping consecutive prompts' start stable."""

    def __init__(
        self,
        engine: DirectorEngine,
        turns: TurnHistory,
        counter: TokenCounter,
        margin: int,
        trim_step: int,
    ) -> None:
        self.engine = engine
        self.turns = turns
        self.counter = counter
        self.margin = margin
        self.trim_step = trim_step
        self.lore_layouts = LoreLayouts()
        self.lore_shortfalls = ShortfallLog()

    async def build(
        self,
        scene: SceneView,
        speaker: str | None,
        before_seq: int | None,
        reserve: int,
        *,
        player: bool = False,
        extra: tuple[PromptTurn, ...] = (),
    ) -> PromptPlan:
        """The prompt within budget; `extra` blocks follow the history (a draft's direction)."""
        fmt, ctx = scene.fmt, scene.context
        system = system_block(scene, ctx)
        # Blocks are counted with the separator that joins them, so the sum matches the prompt.
        header = fmt.separator + prompt_header(fmt, ctx, speaker, player)
        system_tokens, header_tokens = await self.counter.counts([system, header])
        if extra:
            reserve += sum(
                await self.counter.counts([fmt.separator + fmt.turn_block(t) for t in extra])
            )
        budget = (
            self.engine.n_ctx - scene.sampler.max_tokens - self.margin - header_tokens - reserve
        )
        if system_tokens > budget:
            raise DirectorError(
                "The character sheets alone do not fit in the context window; "
                "shorten them or raise N_CTX."
            )
        newest = await self._lines(scene, before_seq)
        lore, history, plan = await self._window(scene, before_seq, budget, system_tokens, newest)
        if lore.fired:
            ctx = replace(ctx, lore_before=lore.before, lore_after=lore.after)
        kept = history[plan.start :]
        turns = [*(prompt_turn(t) for t in kept), *extra]
        rendered = render_prompt(fmt, ctx, turns, speaker, lore.inserts, player=player)
        if scene.mechanics:
            rendered = replace(rendered, system=system_block(scene, ctx))
        return PromptPlan(rendered, plan, tuple(kept), lore)

    async def _window(
        self,
        scene: SceneView,
        before_seq: int | None,
        budget: int,
        system_tokens: int,
        newest: list[StoredTurn],
    ) -> tuple[LoreActivation, list[StoredTurn], BudgetPlan]:
        """The lore, the history turns read, and the window of them that fits beside both."""
        fmt, ctx = scene.fmt, scene.context
        summary_tokens = 0
        if ctx.summary:  # the story so far is fixed text, like the system block
            (summary_tokens,) = await self.counter.counts(
                [fmt.separator + summary_block(fmt, ctx.summary)]
            )
        fixed = system_tokens + summary_tokens
        fired = await fired_lore(scene, newest, budget - fixed, self.counter)
        self.lore_shortfalls.note(scene.scene_id, fired)
        if not scene.lore.sources:
            return (fired, *await self._fit(scene, before_seq, budget, newest, fixed))

        # The scene's last layout goes on while its window stays put; otherwise the layout
        # starts over from the spec's placement (`bot.lore.stable`).
        async def fit(layout: LoreLayout) -> tuple[list[StoredTurn], BudgetPlan, int | None]:
            # Anchored blocks do not depend on their depth, so counting needs no window yet.
            laid_out = await lore_tokens(scene, layout.placed(fired, ()), self.counter)
            # The window is planned with lore's whole budget taken, so what fires from round to
            # round does not move it (and every turn after it) back and forth.
            lore = max(laid_out, system_tokens + fired.budget)
            history, plan = await self._fit(
                scene, before_seq, budget, newest, lore + summary_tokens
            )
            return history, plan, history[plan.start].seq if plan.start < len(history) else None

        previous = self.lore_layouts.get(scene.scene_id)
        last_seq = newest[-1].seq if newest else 0
        layout = previous and previous.following(scene.lore.sources, fired, last_seq)
        if layout:
            history, plan, start = await fit(layout)
            layout = layout if layout.start_seq in (None, start) else None
        if not layout:
            layout = LoreLayout.fresh(scene.lore.sources, fired)
            history, plan, start = await fit(layout)
        if before_seq is None:  # a rewrite of an older turn does not move the layout on
            self.lore_layouts.put(scene.scene_id, replace(layout, start_seq=start))
        return layout.placed(fired, [t.seq for t in history[plan.start :]]), history, plan

    async def _fit(
        self,
        scene: SceneView,
        before_seq: int | None,
        budget: int,
        newest: list[StoredTurn],
        fixed: int,
    ) -> tuple[list[StoredTurn], BudgetPlan]:
        """The history turns read, and the window of them that fits beside `fixed` tokens."""
        history, counts = await self._history(scene, before_seq, budget - fixed, newest)
        plan = plan_window(fixed, counts, [t.seq for t in history], budget, self.trim_step)
        return history, plan

    async def _history(
        self,
        scene: SceneView,
        before_seq: int | None,
        room: int,
        newest: Sequence[StoredTurn] | None = None,
    ) -> tuple[list[StoredTurn], list[int]]:
        """Newest-first pages of non-OOC turns until they overflow `room`, returned oldest first."""
        turns: list[StoredTurn] = []
        counts: list[int] = []
        used = 0
        cursor = before_seq
        while used <= room:
            if newest is not None:  # the first page, already read for the lore scan
                page, newest = newest, None
            else:
                page = await self._lines(scene, cursor)
            if not page:
                break
            cursor = page[0].seq
            kept = [t for t in page if not is_ooc(t.content)]
            page_counts = await self.counter.counts(
                [scene.fmt.separator + scene.fmt.turn_block(prompt_turn(t)) for t in kept]
            )
            turns[:0] = kept
            counts[:0] = page_counts
            used += sum(page_counts)
            if len(page) < HISTORY_PAGE or page[0].seq <= scene.summary_through + 1:
                break
        return turns, counts

    async def _lines(self, scene: SceneView, before_seq: int | None) -> list[StoredTurn]:
        """A page of the newest turns before `before_seq` that the story so far does not cover."""
        page = await self.turns.lines(scene.scene_id, HISTORY_PAGE, before_seq=before_seq)
        return [t for t in page if t.seq > scene.summary_through]


def prompt_turn(turn: StoredTurn) -> PromptTurn:
    """A stored turn as the prompt renders it."""
    role: Role = turn.role if turn.role in ROLES else "user"
    # History written before the name rule existed may hold names that are not plain.
    return PromptTurn(role=role, speaker=speaker_name(turn.speaker), text=turn.content)
