"""Context budgeting: keep the system block and as much recent history as fits."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.prompts import Prompt

TRIM_STEP = 16


@dataclass(frozen=True)
class BudgetPlan:
    """Which of the candidate turns to keep, and the tokens the prompt will use."""

    start: int
    used_tokens: int
    trimmed: bool


def plan_window(
    system_tokens: int,
    turn_tokens: Sequence[int],
    turn_seqs: Sequence[int],
    budget: int,
    step: int = TRIM_STEP,
) -> BudgetPlan:
    """Keep the newest turns that fit; when trimming, cut on `step`-aligned sequence numbers.

    Aligning the first kept turn to a multiple of `step` keeps the same start for
    the next several turns, so consecutive prompts share a long prefix and the KV
    cache stays valid.
    """
    room = budget - system_tokens
    used = 0
    start = len(turn_tokens)
    while start > 0 and used + turn_tokens[start - 1] <= room:
        start -= 1
        used += turn_tokens[start]
    if start == 0:
        return BudgetPlan(0, system_tokens + used, trimmed=False)
    fitting = len(turn_tokens) - start
    # A step larger than half the window would throw away too much; shrink it to a power of two
    # so the aligned start stays put while the window size drifts a little.
    half = max(1, fitting // 2)
    step = min(step, 1 << (half.bit_length() - 1))
    aligned_seq = -(-turn_seqs[start] // step) * step
    aligned = start
    while aligned < len(turn_seqs) and turn_seqs[aligned] < aligned_seq:
        aligned += 1
    if len(turn_tokens) - aligned >= max(1, fitting // 2):
        start = aligned
    return BudgetPlan(start, system_tokens + sum(turn_tokens[start:]), trimmed=True)


class TokenCounter:
    """Counts tokens of prompt blocks with the model's tokenizer, remembering recent blocks."""

    def __init__(
        self, count_many: Callable[[list[Prompt]], Awaitable[list[int]]], capacity: int = 20_000
    ) -> None:
        self._count_many = count_many
        self._cache: OrderedDict[Prompt, int] = OrderedDict()
        self.capacity = capacity
        self.hits = 0
        self.misses = 0

    async def counts(self, blocks: Sequence[Prompt]) -> list[int]:
        """Token count of every block; only blocks not seen recently reach the tokenizer."""
        # Read what is known before awaiting: another channel's round may evict it meanwhile.
        known = {b: self._cache[b] for b in blocks if b in self._cache}
        missing = [b for b in dict.fromkeys(blocks) if b not in known]
        self.misses += len(missing)
        self.hits += len(blocks) - len(missing)
        if missing:
            known.update(zip(missing, await self._count_many(missing), strict=True))
        for block in blocks:
            self._cache[block] = known[block]
            self._cache.move_to_end(block)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return [known[block] for block in blocks]
