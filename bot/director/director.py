"""The turn director: who speaks, what they say, and when the floor goes back to the players."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from bot.director.budget import TRIM_STEP, TokenCounter
from bot.director.choices import another_npc, choose_speaker, speaker_candidates
from bot.director.mechanics import Said, drop_markers, generate, resolver_of
from bot.director.prompting import PromptBuilder, voice_of
from bot.director.text import clean_reply
from bot.director.types import (
    CastMember,
    DirectorEngine,
    DirectorError,
    GeneratedTurn,
    GenerationFailed,
    PromptPlan,
    RoundHooks,
    RoundResult,
    SceneView,
    StoredTurn,
    TurnHistory,
)
from bot.domain import CancelToken, PromptTurn
from bot.engine.base import EngineError, GenerationRequest, RemoteError
from bot.prompts import Prompt

log = logging.getLogger(__name__)

SAFETY_MARGIN = 32


@contextmanager
def engine_failures() -> Iterator[None]:
    """Turn a backend failure into the director's own error, logging the cause once."""
    try:
        yield
    except RemoteError as exc:
        # A known server fault (down, busy, slow): one line in the log, its short notice out.
        log.error("generation failed: %s", exc)
        raise GenerationFailed(exc.notice) from exc
    except EngineError as exc:
        log.error("generation failed: %s", exc, exc_info=exc)
        raise GenerationFailed("The model failed to generate; the log has details.") from exc


class TurnDirector:
    """Runs model rounds for a scene, storing every finished turn before the next starts."""

    def __init__(
        self,
        engine: DirectorEngine,
        turns: TurnHistory,
        *,
        counter: TokenCounter | None = None,
        margin: int = SAFETY_MARGIN,
        trim_step: int = TRIM_STEP,
    ) -> None:
        self.engine = engine
        self.turns = turns
        self.counter = counter or TokenCounter(engine.count_many)
        self.margin = margin
        self.prompts = PromptBuilder(engine, turns, self.counter, margin, trim_step)

    async def build_prompt(
        self,
        scene: SceneView,
        speaker: str | None = None,
        *,
        before_seq: int | None = None,
        reserve: int = 0,
    ) -> PromptPlan:
        """The exact prompt for the next model turn, within the context budget.

        `reserve` keeps room for text appended after the header (a turn being continued).
        """
        with engine_failures():
            return await self.prompts.build(scene, speaker, before_seq, reserve)

    async def run_round(
        self,
        scene: SceneView,
        *,
        forced: str | Sequence[str] | None = None,
        hooks: RoundHooks | None = None,
        cancel: CancelToken | None = None,
        audience: Collection[int] | None = None,
        may_pass: bool = False,
    ) -> RoundResult:
        """Produce up to `max_replies` NPC turns, stopping when the model hands the floor back.

        `forced` NPCs answer first, each once in the order given (muted ones too), then the
        model may go on; the round takes at least one turn for each. With `may_pass` and nobody
        forced the model may hand the floor back before anyone speaks (`ended` "passed").
        With `audience` (a private answer) only those characters and the speaker witness the
        turns; otherwise everyone present does.
        """
        with engine_failures():
            return await self._round(
                scene,
                _forced_members(scene, forced),
                may_pass,
                hooks or RoundHooks(),
                cancel or CancelToken(),
                audience,
            )

    async def _round(
        self,
        scene: SceneView,
        forced: list[CastMember],
        may_pass: bool,
        hooks: RoundHooks,
        cancel: CancelToken,
        audience: Collection[int] | None,
    ) -> RoundResult:
        result = RoundResult()
        if not scene.npcs:
            result.ended, result.notice = "no-cast", "No NPCs are in this scene yet."
            return result
        if not forced and not speaker_candidates(scene, None):
            result.ended = "muted"  # every NPC is muted (or silent) and none was named
            return result
        cap = max(1, scene.max_replies, len(forced))
        choice: PromptPlan | None = None  # the whole scene's prompt, for the model's choices
        if may_pass and not forced:
            choice = await self.prompts.build(scene, None, None, 0)
            if not await self._another_npc(scene, choice, None, cancel):
                result.ended = "cancelled" if cancel.cancelled else "passed"
                return result
        for index in range(cap):
            speaker = forced[index] if index < len(forced) else None
            if speaker is None:
                asked = choice or await self.prompts.build(scene, None, None, 0)
                choice = None  # used once: later choices read the turns stored since
                speaker = await self._choose_speaker(scene, asked, cancel)
            if cancel.cancelled:
                result.ended = "cancelled"
                return result
            if speaker is None:
                result.ended = "muted"
                return result
            if hooks.speaker is not None:
                await hooks.speaker(speaker.name)
            said, plan = await self._speak(scene, speaker.name, cancel, hooks.text)
            if cancel.cancelled:
                result.ended = "cancelled"
                return result
            if not said.text:
                result.ended = "empty"
                result.notice = f"{speaker.name} had nothing to say (empty reply twice)."
                return result
            turn = await self._store(scene, speaker, said.text, hooks, audience)
            result.turns.append(turn)
            result.generated.append(await _told(hooks, turn, said))
            if hooks.stored is not None:
                await hooks.stored(turn)
            if index + 1 >= cap:
                result.ended = "cap"
                return result
            if index + 1 < len(forced):
                continue  # every NPC named answers before the model chooses anyone
            # With no NPC left to choose (the rest muted) the floor goes back unasked.
            if not speaker_candidates(scene, turn) or not await self._another_npc(
                scene, plan, turn, cancel
            ):
                result.ended = "players"
                return result
        return result

    async def _store(
        self,
        scene: SceneView,
        speaker: CastMember,
        text: str,
        hooks: RoundHooks,
        audience: Collection[int] | None,
    ) -> StoredTurn:
        # A turn that a hook shows stays out of the history until the hook has shown it.
        return await self.turns.append(
            scene.scene_id,
            role="model",
            speaker=speaker.name,
            content=text,
            character_id=speaker.character_id,
            pending=hooks.stored is not None,
            audience=audience,
        )

    async def swipe(
        self,
        scene: SceneView,
        turn: StoredTurn,
        *,
        hooks: RoundHooks | None = None,
        cancel: CancelToken | None = None,
    ) -> StoredTurn:
        """Generate an alternative for `turn` from the history before it; keep the old text."""
        member = scene.npc(turn.speaker) or CastMember(turn.speaker)
        hooks, cancel = hooks or RoundHooks(), cancel or CancelToken()
        with engine_failures():
            said, _ = await self._speak(
                scene,
                member.name,
                cancel,
                hooks.text,
                before_seq=turn.seq,
                salt=1,
                unlike=turn.content,
            )
        _refuse_if_stopped(cancel)
        if not said.text or said.text == turn.content:
            raise DirectorError(f"{member.name} had nothing new to say; try again.")
        swiped = await self.turns.add_swipe(turn.id, said.text)
        await _told(hooks, swiped, said)  # markers resolved again: the swipe's own rolls
        return swiped

    async def extend(
        self,
        scene: SceneView,
        turn: StoredTurn,
        *,
        hooks: RoundHooks | None = None,
        cancel: CancelToken | None = None,
    ) -> StoredTurn:
        """Continue `turn` where it stopped and store the longer text.

        Markers are resolved in the added text only; `hooks.text` streams the added text.
        """
        hooks, cancel = hooks or RoundHooks(), cancel or CancelToken()
        with engine_failures():
            so_far = Prompt.plain(f" {turn.content}")
            (reserve,) = await self.counter.counts([so_far])
            plan = await self.prompts.build(scene, turn.speaker, turn.seq, reserve)
            voice = voice_of(scene, turn.speaker)
            request = GenerationRequest(
                prompt=plan.rendered.prompt + so_far,
                sampler=voice.sampler(scene.sampler),
                stops=plan.rendered.stops,
                channel=plan.channel,
                backend=voice.backend,
            )
            spoken = await generate(self.engine, request, cancel, hooks.text, resolver_of(scene))
        _refuse_if_stopped(cancel)
        added = spoken.said(
            clean_reply(spoken.text, turn.speaker, self._others(scene, turn.speaker))
        )
        if not added.text:
            raise DirectorError(f"{turn.speaker} had nothing to add.")
        joiner = "" if added.text[:1] in ",.;:!?" else " "
        longer = await self.turns.edit(turn.id, f"{turn.content}{joiner}{added.text}")
        await _told(hooks, longer, added)
        return longer

    async def suggest(
        self,
        scene: SceneView,
        player: str,
        hint: str | None = None,
        *,
        attempt: int = 0,
        cancel: CancelToken | None = None,
    ) -> str:
        """Draft `player`'s next post in their own voice; nothing is stored."""
        extra = (PromptTurn("narration", "Direction", f"{player}'s next post: {hint}"),)
        cancel = cancel or CancelToken()
        with engine_failures():
            plan = await self.prompts.build(
                scene, player, None, 0, player=True, extra=extra if hint else ()
            )
            sampler = scene.sampler
            if sampler.seed >= 0:  # "Again" must give another draft, even with a fixed seed
                sampler = replace(sampler, seed=sampler.seed + 7919 * attempt)
            request = GenerationRequest(
                prompt=plan.rendered.prompt,
                sampler=sampler,
                stops=plan.rendered.stops,
                channel=plan.channel,
            )
            completion = await self.engine.complete(request, cancel)
        _refuse_if_stopped(cancel)
        text = clean_reply(completion.text, player, self._others(scene, player))
        if scene.mechanics:  # nothing resolves a player's markers: a draft holds none
            text = drop_markers(text).strip()
        if not text:
            raise DirectorError(f"The model had no draft for {player}; try again.")
        return text

    def _others(self, scene: SceneView, speaker: str) -> list[str]:
        return [n for n in (*scene.player_names, *(m.name for m in scene.npcs)) if n != speaker]

    async def _choose_speaker(
        self, scene: SceneView, plan: PromptPlan, cancel: CancelToken
    ) -> CastMember | None:
        return await choose_speaker(self.engine, scene, plan, cancel)

    async def _speak(
        self,
        scene: SceneView,
        speaker: str,
        cancel: CancelToken,
        on_text: Callable[[str], None] | None,
        *,
        before_seq: int | None = None,
        salt: int = 0,
        unlike: str | None = None,
    ) -> tuple[Said, PromptPlan]:
        """Generate one reply for `speaker` (its markers resolved), and the prompt used.

        An empty reply (or one equal to `unlike`, the text a swipe replaces) is tried again
        once with another seed; `salt` shifts the seeds so a swipe never repeats the round's.
        """
        plan = await self.prompts.build(scene, speaker, before_seq, 0)
        voice = voice_of(scene, speaker)
        base = voice.sampler(scene.sampler)
        for attempt in range(2):
            sampler = base
            if base.seed >= 0:
                sampler = replace(base, seed=base.seed + 7919 * (salt + attempt))
            request = GenerationRequest(
                prompt=plan.rendered.prompt,
                sampler=sampler,
                stops=plan.rendered.stops,
                channel=plan.channel,
                backend=voice.backend,
            )
            spoken = await generate(self.engine, request, cancel, on_text, resolver_of(scene))
            said = spoken.said(clean_reply(spoken.text, speaker, self._others(scene, speaker)))
            if (said.text and said.text != unlike) or cancel.cancelled:
                return said, plan
            log.info("empty or repeated reply from %s, retrying once", speaker)
        return said, plan

    async def _another_npc(
        self, scene: SceneView, plan: PromptPlan, turn: StoredTurn | None, cancel: CancelToken
    ) -> bool:
        return await another_npc(self.engine, scene, plan, turn, cancel)


def _forced_members(scene: SceneView, forced: str | Sequence[str] | None) -> list[CastMember]:
    """The NPCs named to answer, in the order given, each once; an unknown name is refused."""
    names = [forced] if isinstance(forced, str) else list(forced or ())
    members: list[CastMember] = []
    for name in filter(None, names):
        member = scene.npc(name)
        if member is None:
            raise DirectorError(f"{name} is not in this scene's cast.")
        if all(m.name != member.name for m in members):
            members.append(member)
    return members


async def _told(hooks: RoundHooks, turn: StoredTurn, said: Said) -> GeneratedTurn:
    """The stored turn with its rolls and state changes, handed to the `generated` hook."""
    generated = GeneratedTurn(turn, said.rolls, said.edits)
    if hooks.generated is not None:
        await hooks.generated(generated)
    return generated


def _refuse_if_stopped(cancel: CancelToken | None) -> None:
    """A swipe or continue cut off half-way keeps nothing."""
    if cancel is not None and cancel.cancelled:
        raise DirectorError("Stopped: the scene changed while this was being written.")
