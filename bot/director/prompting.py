"""The exact prompt for the next model turn: system block, lore, story so far and history.

Each prompt is built from its speaker's view of the scene: the turns it witnessed, the story
so far of that view, the lore those turns fire, and the sheets of the characters it has met.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.director.budget import BudgetPlan, TokenCounter, plan_window
from bot.director.lore import ShortfallLog, fired_lore, lore_tokens
from bot.director.mechanics import system_block
from bot.director.memories import Memories, RecallAsk, recall_reserve
from bot.director.types import (
    DirectorEngine,
    DirectorError,
    PromptPlan,
    SceneView,
    StoredTurn,
    TurnHistory,
    Witness,
)
from bot.domain import ROLES, Persona, PromptContext, PromptTurn, Role, Voice
from bot.lore.placement import LoreActivation
from bot.lore.stable import LoreLayout
from bot.names import speaker_name
from bot.prompts import (
    counted_turn_block,
    is_ooc,
    prompt_header,
    prompt_stops,
    render_prompt,
    summary_block,
)

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
        self.lore_layouts = ViewLayouts()
        self.lore_shortfalls = ShortfallLog()
        self.memories = Memories(counter)

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
        """The prompt within budget; `extra` blocks follow the history (a draft's direction).

        `speaker` None (the speaker choice) reads the whole scene; an NPC reads what it
        witnessed, a player's draft what the player's character witnessed.
        """
        if not player:  # an NPC's own turn asks its own length, and budgets its own max tokens
            scene = voiced(scene, speaker)
        view = scene.witness(speaker, player=player)
        seen = scene.seen_by(view)
        newest = await self._lines(seen, view, before_seq)
        seen = replace(seen, context=met(seen.context, speaker, player, newest))
        fmt, ctx = seen.fmt, seen.context
        system = system_block(seen, ctx)
        # Blocks are counted with the separator that joins them, so the sum matches the prompt.
        header = fmt.separator + prompt_header(fmt, ctx, speaker, player)
        system_tokens, header_tokens = await self.counter.counts([system, header])
        if extra:
            reserve += sum(await self.counter.counts([counted_turn_block(fmt, t) for t in extra]))
        budget = (
            self.engine.n_ctx - scene.sampler.max_tokens - self.margin - header_tokens - reserve
        )
        if system_tokens > budget:
            raise DirectorError(
                "The character sheets alone do not fit in the context window; "
                "shorten them or raise N_CTX."
            )
        # The Memories block's whole budget is taken before the window is planned.
        recall = recall_reserve(seen, speaker, player, budget - system_tokens)
        shared = await self._layout_view(seen, view, before_seq, newest)
        window = _Window(seen, view, speaker, before_seq, budget - recall, system_tokens, shared)
        lore, history, plan = await self._window(window, newest)
        if lore.fired:
            ctx = replace(ctx, lore_before=lore.before, lore_after=lore.after)
        kept = history[plan.start :]
        recalled, memories = await self.memories.recall(
            RecallAsk(seen, view, speaker or "", kept, recall, before_seq)
        )
        inserts = (*lore.inserts, memories) if memories else lore.inserts
        if recalled.used:
            plan = replace(plan, used_tokens=plan.used_tokens + recalled.used)
        turns = [*(prompt_turn(t) for t in kept), *extra]
        rendered = render_prompt(fmt, ctx, turns, speaker, inserts, player=player)
        # Stop at every character's line, met or not: the model must not speak for any of them.
        rendered = replace(rendered, stops=prompt_stops(fmt, scene.context, speaker, player=player))
        if seen.mechanics:
            rendered = replace(rendered, system=system_block(seen, ctx))
        # A view that reads what the whole scene reads, with no secret of its own, keeps the
        # scene's KV state: one prefix (one llama-server slot) for speakers who saw the same.
        own = shared is not None or _keeps_secrets(scene.context, speaker)
        channel = scene.channel(view if own else None)
        return PromptPlan(rendered, plan, tuple(kept), channel, lore, view, recalled)

    async def _window(
        self, window: _Window, newest: list[StoredTurn]
    ) -> tuple[LoreActivation, list[StoredTurn], BudgetPlan]:
        """The lore, the history turns read, and the window of them that fits beside both."""
        scene, budget, system_tokens = window.scene, window.budget, window.system_tokens
        fmt, ctx = scene.fmt, scene.context
        summary_tokens = 0
        if ctx.summary:  # the story so far is fixed text, like the system block
            (summary_tokens,) = await self.counter.counts(
                [fmt.separator + summary_block(fmt, ctx.summary)]
            )
        fixed = system_tokens + summary_tokens
        fired = await fired_lore(
            scene, newest, budget - fixed, self.counter, speaker=window.speaker
        )
        self.lore_shortfalls.note(scene.scene_id, fired)
        if not scene.lore.sources:
            return (fired, *await self._fit(window, newest, fixed))

        # The view's last layout goes on while its window stays put; otherwise the layout
        # starts over from the spec's placement (`bot.lore.stable`). Each view has its own: a
        # layout holds lore that fired on the turns its view read.
        async def fit(layout: LoreLayout) -> tuple[list[StoredTurn], BudgetPlan, int | None]:
            # Anchored blocks do not depend on their depth, so counting needs no window yet.
            laid_out = await lore_tokens(scene, layout.placed(fired, ()), self.counter)
            # The window is planned with lore's whole budget taken, so what fires from round to
            # round does not move it (and every turn after it) back and forth.
            lore = max(laid_out, system_tokens + fired.budget)
            history, plan = await self._fit(window, newest, lore + summary_tokens)
            return history, plan, history[plan.start].seq if plan.start < len(history) else None

        key = (scene.scene_id, window.shared)
        previous = self.lore_layouts.get(key)
        last_seq = newest[-1].seq if newest else 0
        layout = previous and previous.following(scene.lore.sources, fired, last_seq)
        if layout:
            history, plan, start = await fit(layout)
            layout = layout if layout.start_seq in (None, start) else None
        if not layout:
            layout = LoreLayout.fresh(scene.lore.sources, fired)
            history, plan, start = await fit(layout)
        if window.before_seq is None:  # a rewrite of an older turn does not move the layout on
            self.lore_layouts.put(key, replace(layout, start_seq=start))
        return layout.placed(fired, [t.seq for t in history[plan.start :]]), history, plan

    async def _fit(
        self, window: _Window, newest: list[StoredTurn], fixed: int
    ) -> tuple[list[StoredTurn], BudgetPlan]:
        """The history turns read, and the window of them that fits beside `fixed` tokens."""
        history, counts = await self._history(window, window.budget - fixed, newest)
        plan = plan_window(fixed, counts, [t.seq for t in history], window.budget, self.trim_step)
        return history, plan

    async def _history(
        self, window: _Window, room: int, newest: Sequence[StoredTurn] | None = None
    ) -> tuple[list[StoredTurn], list[int]]:
        """Newest-first pages of non-OOC turns until they overflow `room`, returned oldest first."""
        scene = window.scene
        turns: list[StoredTurn] = []
        counts: list[int] = []
        used = 0
        cursor = window.before_seq
        while used <= room:
            if newest is not None:  # the first page, already read for the lore scan
                page, newest = newest, None
            else:
                page = await self._lines(scene, window.view, cursor)
            if not page:
                break
            cursor = page[0].seq
            kept = [t for t in page if not is_ooc(t.content)]
            page_counts = await self.counter.counts(
                [counted_turn_block(scene.fmt, prompt_turn(t)) for t in kept]
            )
            turns[:0] = kept
            counts[:0] = page_counts
            used += sum(page_counts)
            if len(page) < HISTORY_PAGE or page[0].seq <= scene.summary_through + 1:
                break
        return turns, counts

    async def _layout_view(
        self,
        scene: SceneView,
        view: Witness,
        before_seq: int | None,
        newest: list[StoredTurn],
    ) -> Witness:
        """The view whose lore layout and KV state this prompt goes on from.

        A view that reads the same newest turns as the whole scene shares the scene's layout,
        so speakers who saw the same keep one prefix between them; a view that lacks turns
        there, or holds a secret, keeps its own, or lore fired by turns it never read would
        stay in its prompt.
        """
        if view is None:
            return None
        whole = await self._lines(scene, None, before_seq)
        first = whole[0].seq if whole else 0
        if [t.seq for t in newest if t.seq >= first] == [t.seq for t in whole]:
            return None
        return view

    async def _lines(
        self, scene: SceneView, view: Witness, before_seq: int | None
    ) -> list[StoredTurn]:
        """A page of the view's newest turns before `before_seq` its story so far does not cover."""
        page = await self.turns.lines(
            scene.scene_id, HISTORY_PAGE, before_seq=before_seq, witness=view
        )
        return [t for t in page if t.seq > scene.summary_through]


@dataclass(frozen=True)
class _Window:
    """What planning one prompt's history window needs."""

    scene: SceneView  # as its speaker sees it
    view: Witness
    speaker: str | None
    before_seq: int | None
    budget: int
    system_tokens: int
    shared: Witness  # the view whose layout it goes on from: None when it reads the scene's


class ViewLayouts:
    """The newest lore layout of each recently prompted view of a scene (only in memory)."""

    def __init__(self, capacity: int = 2048) -> None:
        self._layouts: OrderedDict[tuple[int, Witness], LoreLayout] = OrderedDict()
        self.capacity = capacity

    def get(self, key: tuple[int, Witness]) -> LoreLayout | None:
        """The layout of the view's last prompt, if it is remembered."""
        return self._layouts.get(key)

    def put(self, key: tuple[int, Witness], layout: LoreLayout) -> None:
        """Remember `layout` for the view's next prompt."""
        self._layouts[key] = layout
        self._layouts.move_to_end(key)
        while len(self._layouts) > self.capacity:
            self._layouts.popitem(last=False)


def met(
    ctx: PromptContext, speaker: str | None, player: bool, page: Sequence[StoredTurn]
) -> PromptContext:
    """`ctx` with the sheets of the characters `speaker` has met: those present and those who
    speak in `page`, its own view's newest turns; only its own sheet keeps its secrets."""
    spoke = {speaker_name(t.speaker).casefold() for t in page}
    own = speaker.casefold() if speaker else None

    def shown(people: tuple[Persona, ...], speaker_side: bool) -> tuple[Persona, ...]:
        out = []
        for person in people:
            if speaker_side and person.name.casefold() == own:
                out.append(person.as_read_by_owner())
            elif person.present or person.name.casefold() in spoke:
                out.append(person)
        return tuple(out)

    return replace(ctx, npcs=shown(ctx.npcs, not player), players=shown(ctx.players, player))


def _keeps_secrets(ctx: PromptContext, speaker: str | None) -> bool:
    """Whether `speaker`'s own prompts show a sheet with secrets the others' do not."""
    own = speaker.casefold() if speaker else None
    people = (*ctx.npcs, *ctx.players)
    return any(p.own_sheet is not None and p.name.casefold() == own for p in people)


def prompt_turn(turn: StoredTurn) -> PromptTurn:
    """A stored turn as the prompt renders it."""
    role: Role = turn.role if turn.role in ROLES else "user"
    # History written before the name rule existed may hold names that are not plain.
    return PromptTurn(role=role, speaker=speaker_name(turn.speaker), text=turn.content)


def voice_of(scene: SceneView, speaker: str | None) -> Voice:
    """`speaker`'s own voice: the NPC's, or none (the scene's settings) for anyone else."""
    member = scene.npc(speaker) if speaker else None
    return member.voice if member else Voice()


def voiced(scene: SceneView, speaker: str | None) -> SceneView:
    """`scene` as `speaker`'s own turn reads it: its voice's sampler and length over the scene's."""
    voice = voice_of(scene, speaker)
    if voice == Voice():
        return scene
    length = scene.context.length if voice.length is None else voice.length
    context = replace(scene.context, length=length)
    return replace(scene, sampler=voice.sampler(scene.sampler), context=context)
