"""Whispers and tells labelled for a GM's eyes: whom each was for, and how many there are."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.knowledge.wording import mark
from bot.store import NotFoundError, Stores, TurnLine
from bot.store.models import SECRET_KINDS

PAGE = 500  # turns read per query when counting


class SecretMarks:
    """Labels the whispers and tells of one scene: "(whisper to Marta)", "(told to Marta)"."""

    def __init__(self, stores: Stores, scene_id: int) -> None:
        self.stores = stores
        self.scene_id = scene_id
        self._names: dict[int, str] = {}

    async def __call__(self, page: Sequence[TurnLine]) -> dict[int, str]:
        """The label of each secret turn of `page`, by turn id (other turns have none)."""
        secret = [line for line in page if line.kind in SECRET_KINDS]
        if not secret:
            return {}
        witnesses = await self.stores.turns.witnesses([line.id for line in secret])
        labels = {}
        for line in secret:
            names = [await self._name(c) for c in witnesses.get(line.id, ())]
            # Its author witnessed it too: the label names whom it was for.
            audience = [n for n in names if n.casefold() != line.speaker.casefold()]
            labels[line.id] = mark(line.kind, audience)
        return labels

    async def _name(self, character_id: int) -> str:
        """A witness's name; characters no longer in the scene are looked up once."""
        if not self._names:
            self._names = {c.id: c.name for c in await self.stores.scenes.characters(self.scene_id)}
        if character_id not in self._names:
            try:
                found = await self.stores.characters.get(character_id)
                self._names[character_id] = found.name
            except NotFoundError:
                self._names[character_id] = "someone since deleted"
        return self._names[character_id]


async def secret_counts(stores: Stores, scene_id: int) -> Counter[str]:
    """How many turns of each secret kind the scene's history holds."""
    counts: Counter[str] = Counter()
    after = 0
    while page := await stores.turns.lines_after(scene_id, after, PAGE, with_private=True):
        counts.update(line.kind for line in page if line.kind in SECRET_KINDS)
        after = page[-1].seq
    return counts
