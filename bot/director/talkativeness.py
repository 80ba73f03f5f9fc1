"""Talkativeness: how often the model's choice of speaker lands on an NPC.

The rule (SillyTavern's card field, 0-100, `Voice.talks`):

- An NPC with talkativeness 0 is never chosen unprompted: it is no candidate (forcing it, by
  name or by a reply, still makes it speak).
- After the model picks among the candidates, the pick stands with probability
  talks / (the highest talkativeness among the candidates); otherwise the floor passes to
  another candidate, drawn in proportion to their talkativeness. When no other candidate has
  any, the model's pick stands.
- So talkativeness is relative: among the candidates the most talkative NPC's pick always
  stands, and a cast that all keep one value (the default 50) leaves the model's choice alone;
  against one of 100, an NPC of 25 keeps a pick a quarter of the time.
- The draw is seeded from the scene sampler's seed and the scene's position (its id and the
  seq of its newest turn), so a seeded run repeats; a seed of -1 draws unseeded.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from bot.director.types import CastMember


def talkative(members: Iterable[CastMember]) -> list[CastMember]:
    """The members the model's choice may land on: those whose talkativeness is above 0."""
    return [m for m in members if m.voice.talks > 0]


def draw(seed: int, scene_id: int, last_seq: int) -> random.Random:
    """The random source of one choice: seeded by the sampler's seed and the scene's position."""
    if seed < 0:
        return random.Random()
    # A string seed is hashed with SHA-512: the same on every run and every Python process.
    return random.Random(f"talkativeness:{seed}:{scene_id}:{last_seq}")


def weigh(pick: CastMember, candidates: Sequence[CastMember], rng: random.Random) -> CastMember:
    """The speaker after weighing the model's `pick` by talkativeness (the module's rule)."""
    others = [m for m in candidates if m.name != pick.name and m.voice.talks > 0]
    # Relative to the most talkative candidate: an equal cast never overrides the model.
    most = max(m.voice.talks for m in (pick, *others))
    if not others or rng.random() * most < pick.voice.talks:
        return pick
    return rng.choices(others, weights=[m.voice.talks for m in others])[0]
