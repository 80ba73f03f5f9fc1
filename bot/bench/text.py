"""Deterministic roleplay-like filler text for the bench's long histories."""

from __future__ import annotations

import random

_ACTIONS = (
    "leans on the wet rail",
    "lifts the shuttered lantern",
    "counts the coins a second time",
    "wipes salt from the ledger",
    "squints into the fog",
    "taps the brass whistle against a post",
    "kicks a coil of rope aside",
    "pulls the oilskin tighter",
    "listens to the water under the pier",
    "unrolls a damp chart on a crate",
    "rests a hand on the crossbow",
    "tests the cut chain with a thumb",
    "shoulders open the customs door",
    "crouches beside the mooring post",
    "sniffs the air like a hound",
    "hangs the lamp from a nail",
)
_PLACES = (
    "the customs gate",
    "the fish market",
    "the breakwater",
    "the tithe office",
    "the old lighthouse stair",
    "the tar sheds",
    "the harbormaster's hut",
    "the north pier",
    "the rope walk",
    "the flooded tunnel mouth",
    "the chandler's shop",
    "the watch house",
)
_DETAILS = (
    "where the lamps should be burning",
    "while gulls complain somewhere above",
    "as a bell tolls out on the water",
    "with boots squelching in the mud",
    "where someone left fresh footprints",
    "beside a barrel marked with chalk",
    "under a sky the colour of pewter",
    "as the tide turns against the hulls",
)
_LINES = (
    "Nobody moves until the tithe ship is tied up.",
    "I heard oars out past the reef, muffled with rags.",
    "That chain was cut by someone who knew the lock.",
    "The guild charts lie about the second channel.",
    "If the ship runs aground, the whole town pays for it.",
    "Somebody paid the lamplighter to stay home tonight.",
    "You smell that? Lamp oil, spilled on purpose.",
    "My grandmother drowned on a night like this one.",
    "Keep your voice down, the fog carries every word.",
    "Hale will hang the first smuggler he can reach.",
    "Three boats went out at dusk and only two came back.",
    "The watch log has a page torn out of it.",
    "Light the beacon on the breakwater, and be quick.",
    "I want names, not riddles, before the bell rings again.",
    "There are crates in the tunnel that were not there yesterday.",
    "Whoever did this wanted the tithe ship on the rocks.",
    "The customs seal on that door is a forgery.",
    "Ask the gulls, they saw more than the watch did.",
)


class FillerText:
    """Roleplay-like lines from a seeded generator, so every run writes the same history."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def line(self, name: str) -> str:
        """One turn of about 45 tokens for `name`."""
        pick = self._rng.choice
        first = name.split()[0]
        return (
            f"*{first} {pick(_ACTIONS)} by {pick(_PLACES)}, {pick(_DETAILS)}.* "
            f'"{pick(_LINES)} {pick(_LINES)}"'
        )

    def short(self, name: str) -> str:
        """A short player message of about 25 tokens."""
        first = name.split()[0]
        return f"*{first} {self._rng.choice(_ACTIONS)}.* {self._rng.choice(_LINES)}"

    def record(self, index: int) -> str:
        """A storage-bench turn text (varied, about 150 characters)."""
        pick = self._rng.choice
        return f"[{index}] {pick(_LINES)} {pick(_LINES)} *{pick(_ACTIONS)}.*"
