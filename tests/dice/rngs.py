"""Random generators for the dice tests: counting, rigged to the highest face, scripted."""

from __future__ import annotations

import random
from collections.abc import Iterable


class CountingRandom(random.Random):
    """A seeded generator that counts the draws made from it (every method ends in these two)."""

    def __init__(self, seed: int = 0) -> None:
        self.draws = 0
        super().__init__(seed)

    def random(self) -> float:
        self.draws += 1
        return super().random()

    def getrandbits(self, k: int) -> int:
        self.draws += 1
        return super().getrandbits(k)


class HighestFace(random.Random):
    """Every die shows its highest face: every `!` explodes, every `rr<max>` rerolls."""

    def __init__(self) -> None:
        self.draws = 0
        super().__init__(0)

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        assert stop is None and step == 1, "the engine draws a die as randrange(sides)"
        self.draws += 1
        return start - 1


class Faces(random.Random):
    """Dice show the given faces, in order; running out is a test failure."""

    def __init__(self, faces: Iterable[int]) -> None:
        self.faces = list(faces)
        super().__init__(0)

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        assert stop is None and step == 1, "the engine draws a die as randrange(sides)"
        face = self.faces.pop(0)
        assert 1 <= face <= start, f"a d{start} cannot show {face}"
        return face - 1
