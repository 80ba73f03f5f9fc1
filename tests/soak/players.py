"""The soak's players and NPCs, and when each player posts what (a seeded, finite schedule)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tests.e2e import Npc
from tests.fake_discord import FakeDiscord

# Guild members of the soak: one block of ids per channel, away from the fake's own members.
FIRST_PLAYER_ID = 710000000000000000
NAMES = ("Rowan", "Isolde", "Bram", "Kestrel", "Wynn", "Odile", "Tamsin", "Corvin")
NPCS = (
    Npc("Marta", "**Age**: 52 **Biography**: keeps the Lantern inn and every secret told there"),
    Npc("Old Fenn", "**Age**: 70 **Biography**: a harbor pilot who reads the fog like a book"),
    Npc("Sister Vael", "**Age**: 35 **Biography**: a healer of the shrine, calm and watchful"),
    Npc("Captain Orrin", "**Age**: 44 **Biography**: master of the Gull, owed money by half"),
    Npc("Pip", "**Age**: 12 **Biography**: a dockside runner who hears everything first"),
    Npc("Lady Maren", "**Age**: 39 **Biography**: the harbor magistrate, new and unwelcome"),
)
LINES = (
    "I shake the rain off my cloak and look around the room.",
    "I set two coins on the counter. What is the talk of the harbor tonight?",
    "I lean closer and lower my voice. Did anyone see the ship come in?",
    "I laugh and raise my mug to the party.",
    "I glance at the door every time it opens.",
    "I unroll the old chart and tap the reef marked in red.",
    "I ask who lit the lamps on the north pier last night.",
    "I pull up a stool by the fire and listen.",
    "I slide the sealed letter across the party without a word.",
    "I frown. That is not what the harbor master told us.",
    "I offer to help carry the crates down to the cellar.",
    "I ask whether the fog will lift before the tide turns.",
)


@dataclass(frozen=True)
class Party:
    """One channel's party: its index, players and NPCs (the channel opens later)."""

    index: int
    players: tuple[int, ...]
    npcs: tuple[Npc, ...]


@dataclass(frozen=True)
class Planned:
    """One post: when (seconds after the start), where (party index), who and what."""

    at: float
    party: int
    author_id: int
    text: str


def parties(channels: int, players: int) -> list[Party]:
    """`channels` parties of `players` members each, with one NPC, or two at every other one."""
    made = []
    for index in range(channels):
        first = FIRST_PLAYER_ID + index * 100
        npcs = [NPCS[index % len(NPCS)]]
        if index % 2:
            npcs.append(NPCS[(index + 1) % len(NPCS)])
        made.append(Party(index, tuple(first + j for j in range(players)), tuple(npcs)))
    return made


def add_members(fake: FakeDiscord, planned: list[Party]) -> None:
    """Make every party's players guild members (before the bot connects, so it knows them)."""
    for party in planned:
        for seat, user_id in enumerate(party.players):
            fake.add_member(user_id, f"{NAMES[seat % len(NAMES)]}{party.index}")


def schedule(
    planned: list[Party], *, seconds: float, mean_gap: float, mention_share: float, seed: int
) -> list[Planned]:
    """Every post of the soak, in time order: each player's gaps vary ±50 % around `mean_gap`."""
    rng = random.Random(seed)
    posts: list[Planned] = []
    for party in planned:
        for author_id in party.players:
            at = rng.uniform(0.0, mean_gap)  # players drift in, not all at the first second
            while at < seconds:
                posts.append(Planned(at, party.index, author_id, _line(rng, party, mention_share)))
                at += rng.uniform(0.5, 1.5) * mean_gap
    return sorted(posts, key=lambda p: p.at)


def _line(rng: random.Random, party: Party, mention_share: float) -> str:
    """A player's line; some address an NPC by name, which asks for that NPC at once."""
    line = rng.choice(LINES)
    if rng.random() < mention_share:
        return f"{rng.choice(party.npcs).name}, {line[0].lower()}{line[1:]}"
    return line
