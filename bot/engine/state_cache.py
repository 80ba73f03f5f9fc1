"""Per-channel KV snapshots, so switching channels evaluates only the new tokens.

Why per-sequence snapshots: `Llama.save_state()` also copies the logits buffer
(`n_batch x n_vocab` floats, hundreds of MiB for large vocabularies) and the whole
context; `llama_state_seq_get_data` copies only the KV cells the channel uses. A
snapshot is keyed by its exact token list and `Llama.generate` itself keeps only the
longest common token prefix with the new prompt, so an edited, deleted, swiped or
trimmed history can never reuse a stale cell.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Snapshot:
    """One channel's KV cells and the tokens they encode."""

    tokens: list[int]
    data: bytes


@dataclass
class CacheStats:
    """Counters for the bench and `doctor`."""

    switches: int = 0
    restores: int = 0
    misses: int = 0
    evictions: int = 0
    restored_tokens: int = 0


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class ChannelStateCache:
    """LRU of channel snapshots bounded by a byte budget; the live channel is in the context."""

    def __init__(self, llm: Any, budget_bytes: int) -> None:
        self._llm = llm
        self.budget_bytes = budget_bytes
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()
        self._live: str | None = None
        self.stats = CacheStats()

    @property
    def used_bytes(self) -> int:
        return sum(len(s.data) for s in self._snapshots.values())

    def __len__(self) -> int:
        return len(self._snapshots)

    def activate(self, channel: str, prompt_tokens: Sequence[int]) -> None:
        """Make the context hold the best available prefix for this channel's prompt."""
        if channel == self._live:
            return
        self.stats.switches += 1
        if self._live is not None and self._llm.n_tokens > 0:
            self._save(self._live)
        self._live = channel
        snapshot = self._snapshots.get(channel)
        if snapshot is None:
            self.stats.misses += 1
            return
        self._snapshots.move_to_end(channel)
        live = common_prefix(self._llm.input_ids[: self._llm.n_tokens].tolist(), prompt_tokens)
        if common_prefix(snapshot.tokens, prompt_tokens) > live:
            self._restore(snapshot)
        else:
            self.stats.misses += 1

    def remember(self, channel: str) -> None:
        """Note that the context now holds this channel (snapshots are taken on the next switch)."""
        self._live = channel

    def forget(self, channel: str) -> None:
        """Drop a channel's snapshot (history cleared)."""
        self._snapshots.pop(channel, None)

    def _save(self, channel: str) -> None:
        import llama_cpp

        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size <= 0 or size > self.budget_bytes:
            self._snapshots.pop(channel, None)
            return
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        tokens = self._llm.input_ids[: self._llm.n_tokens].tolist()
        self._snapshots[channel] = Snapshot(tokens, bytes(buffer)[:written])
        self._snapshots.move_to_end(channel)
        while self.used_bytes > self.budget_bytes:
            self._snapshots.popitem(last=False)
            self.stats.evictions += 1

    def _restore(self, snapshot: Snapshot) -> None:
        import llama_cpp

        ctx = self._llm._ctx.ctx
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        buffer = (ctypes.c_uint8 * len(snapshot.data)).from_buffer_copy(snapshot.data)
        if llama_cpp.llama_state_seq_set_data(ctx, buffer, len(snapshot.data), 0) == 0:
            self._llm.reset()
            self.stats.misses += 1
            return
        n = len(snapshot.tokens)
        self._llm.input_ids[:n] = snapshot.tokens
        self._llm.n_tokens = n
        # Logits are stale after a restore: generate() must decode at least one token.
        self._llm._requires_eval = True
        self.stats.restores += 1
        self.stats.restored_tokens += n
