"""Token ids of prompt segments, remembered: each round re-sends the same history turns.

A prompt is tokenized segment by segment (only a format's markers may parse as special
tokens), so a segment's ids depend on its text, whether it is special and whether it opens
the prompt (BOS) — nothing else. A round's prompt is the last one plus a few new turns; without
this cache every round tokenized its whole history again (a 3,000-token history: 20 ms on a
loaded 2-core machine, on the round's critical path), and then once more to count it.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable

Key = tuple[str, bool, bool]  # text, special, add_bos


class SegmentTokens:
    """An LRU of segment token ids, bounded by the tokens it holds (4 bytes each)."""

    def __init__(self, tokenize: Callable[[Key], list[int]], capacity: int = 1 << 20) -> None:
        self._tokenize = tokenize
        self._ids: OrderedDict[Key, array[int]] = OrderedDict()
        self._held = 0
        self.capacity = capacity
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def held_tokens(self) -> int:
        """Token ids held across all cached segments."""
        return self._held

    def ids(self, key: Key) -> array[int]:
        """The ids of one segment, tokenized on the first call (do not modify them)."""
        found = self._ids.get(key)
        if found is not None:
            self.hits += 1
            self._ids.move_to_end(key)
            return found
        self.misses += 1
        ids = array("i", self._tokenize(key))
        if len(ids) <= self.capacity:
            self._ids[key] = ids
            self._held += len(ids)
            while self._held > self.capacity:
                _, evicted = self._ids.popitem(last=False)
                self._held -= len(evicted)
        return ids
