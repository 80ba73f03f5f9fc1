"""Constrained choices: which NPC speaks next, and whether the floor goes back to the players."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.director.prompting import prompt_turn
from bot.director.talkativeness import draw, talkative, weigh
from bot.director.text import choice_request
from bot.director.types import CastMember, DirectorEngine, PromptPlan, SceneView, StoredTurn
from bot.domain import CancelToken
from bot.engine.base import GenerationRequest
from bot.prompts import Prompt

log = logging.getLogger(__name__)


def speaker_candidates(scene: SceneView, last: StoredTurn | None) -> list[CastMember]:
    """Whom the model may choose: the unmuted NPCs with some talkativeness, never the one who
    just spoke unless no other is left (a lone NPC may go on); the others speak only when
    forced."""
    candidates = talkative(scene.choosable)
    if last is not None and last.role == "model" and len(candidates) > 1:
        candidates = [m for m in candidates if m.name != last.speaker] or candidates
    return candidates


async def choose_speaker(
    engine: DirectorEngine, scene: SceneView, plan: PromptPlan, cancel: CancelToken
) -> CastMember | None:
    """The next NPC among `speaker_candidates`, weighed by talkativeness; None when there is
    none (every NPC muted or silent)."""
    last = plan.history[-1] if plan.history else None
    candidates = speaker_candidates(scene, last)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    request = choice_request(
        plan.rendered.prompt,
        replace(scene.sampler, max_tokens=48),
        plan.channel,
        [m.name for m in candidates],
        ":",
    )
    chosen = await constrained(engine, request, cancel)
    # No valid answer twice: the first candidate, never a name the model made up.
    pick = next((m for m in candidates if f"{m.name}:" == chosen), candidates[0])
    rng = draw(scene.sampler.seed, scene.scene_id, last.seq if last else 0)
    return weigh(pick, candidates, rng)


async def constrained(
    engine: DirectorEngine, request: GenerationRequest, cancel: CancelToken
) -> str | None:
    """The answer if it is one of `request.choices`; an invalid one is asked again, colder."""
    # A server may ignore the grammar (or not take one): only the listed answers count.
    for attempt in range(2):
        completion = await engine.complete(request, cancel)
        answer = completion.text.strip()
        if answer in request.choices:
            return answer
        if cancel.cancelled:
            return None
        log.warning(
            "constrained answer %r is not an allowed choice; %s",
            answer[:80],
            "falling back" if attempt else "asking again, colder",
        )
        colder = replace(request.sampler, temperature=min(request.sampler.temperature, 1) / 2)
        request = replace(request, sampler=colder)
    return None


async def another_npc(
    engine: DirectorEngine,
    scene: SceneView,
    plan: PromptPlan,
    turn: StoredTurn | None,
    cancel: CancelToken,
) -> bool:
    """Ask the model whether an NPC block follows or the players get the floor.

    After `turn` (stored since `plan` was built), or with None on the prompt as it stands:
    before a round's first turn, where handing the floor back means nobody answers.
    """
    fmt = scene.fmt
    choice = fmt.floor_choice()
    rendered = plan.rendered
    after = () if turn is None else (fmt.turn_block(prompt_turn(turn)),)
    blocks = (rendered.system, *rendered.turns, *after)
    prompt = Prompt.join(rendered.separator, blocks) + choice.lead
    request = choice_request(
        prompt,
        replace(scene.sampler, max_tokens=8),
        plan.channel,
        [choice.npc, choice.player],
    )
    # No valid answer twice: the players get the floor.
    return await constrained(engine, request, cancel) == choice.npc
