"""Per-channel KV snapshots, so switching channels evaluates only the new tokens.

Why this design: the context holds one channel (the live one); when a request for another
channel arrives, the live channel's KV cells are copied out with `llama_state_seq_get_data`
and the target channel's cells are copied back in with `llama_state_seq_set_data`. Such a
snapshot is only the KV cells in use (about 23 KB per token for the demo SmolLM2-135M in
f16: 69 MB for 3,000 tokens, copied in ~15 ms each way), whereas `Llama.save_state()` also
copies the `n_batch x n_vocab` float scores array (100 MB for SmolLM2's 49k vocabulary at
n_batch 512, 268 MB for a 131k-vocabulary model) and takes ~30x longer, for logits that are
recomputed anyway. A snapshot is kept with the exact tokens its cells encode and is restored
only when it shares a longer prefix with the new prompt than the context already does;
`Llama.generate` then keeps just the longest common token prefix of the restored tokens and
the prompt, so an edited, deleted, swiped or trimmed history can never reuse a stale cell.
The target's snapshot is taken out of the LRU *before* the live channel is saved (so N
channels need a budget of only N-1 states, not N, to avoid thrashing), room is made *before*
a new snapshot is allocated (so the snapshots never exceed the budget, not even for a moment;
the "+1" is the live channel, which sits in the context itself), and restores clear the KV
cache without zeroing it (`llama_memory_clear(..., False)`: zeroing the whole n_ctx buffer
costs a memset of every cell and buys nothing, `set_data` overwrites the cells it restores).
After a restore the logits are stale, so `_requires_eval` is set and `generate` decodes at
least one token.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from llama_cpp import Llama

_TOKEN_DTYPE = np.intc


@dataclass
class Snapshot:
    """One channel's KV cells and the tokens they encode."""

    tokens: npt.NDArray[np.intc]
    data: bytearray

    @property
    def nbytes(self) -> int:
        """Bytes held by this snapshot (KV cells plus its token list)."""
        return len(self.data) + int(self.tokens.nbytes)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class CacheStats:
    """Counters for the bench and `doctor`."""

    switches: int = 0
    restores: int = 0
    misses: int = 0
    evictions: int = 0
    restored_tokens: int = 0
    saves: int = 0
    oversize: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    peak_bytes: int = 0

    @property
    def reuse(self) -> float:
        """Fraction of prompt tokens that did not need evaluating."""
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def common_prefix(a: Sequence[int] | npt.NDArray[Any], b: Sequence[int] | npt.NDArray[Any]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    left = np.asarray(a[:n], dtype=_TOKEN_DTYPE)
    right = np.asarray(b[:n], dtype=_TOKEN_DTYPE)
    differ = np.flatnonzero(left != right)
    return int(differ[0]) if differ.size else n


class ChannelStateCache:
    """LRU of channel snapshots bounded by a byte budget; the live channel is in the context.

    Every method must run on the engine's worker thread (the one that calls the `Llama`).
    """

    def __init__(self, llm: Llama, budget_bytes: int) -> None:
        self._llm = llm
        self.budget_bytes = budget_bytes
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()
        self._used = 0
        self._live: str | None = None
        self.stats = CacheStats()

    @property
    def used_bytes(self) -> int:
        """Bytes held by the stored snapshots (the live channel's cells are not counted)."""
        return self._used

    @property
    def snapshot_bytes(self) -> dict[str, int]:
        """Size of each stored snapshot, least recently used first."""
        return {channel: s.nbytes for channel, s in self._snapshots.items()}

    def __len__(self) -> int:
        return len(self._snapshots)

    def __contains__(self, channel: object) -> bool:
        return channel in self._snapshots

    def activate(self, channel: str, prompt_tokens: Sequence[int]) -> None:
        """Make the context hold the best available prefix for this channel's prompt."""
        prompt = np.asarray(prompt_tokens, dtype=_TOKEN_DTYPE)
        if channel != self._live:
            self._switch(channel, prompt)
        self._count_reuse(prompt)

    def forget(self, channel: str) -> None:
        """Drop a channel's snapshot (history cleared); the context no longer counts as its."""
        self._drop(channel)
        if self._live == channel:
            self._live = None

    def detach(self) -> None:
        """Save the live channel and mark the context as nobody's (before a reset or a
        request without a channel)."""
        if self._live is not None:
            self._save(self._live)
            self._live = None

    def capture(self) -> Snapshot | None:
        """A copy of the context's cells and tokens, outside the LRU and its budget."""
        return self._read()

    def restore(self, snapshot: Snapshot) -> bool:
        """Put a snapshot back into the context; False (and an empty context) on failure."""
        return self._write(snapshot)

    def _switch(self, channel: str, prompt: npt.NDArray[np.intc]) -> None:
        self.stats.switches += 1
        # Take the target out first: saving the live channel must not evict it.
        target = self._drop(channel)
        if self._live is not None:
            self._save(self._live)
        self._live = channel
        if target is None:
            self.stats.misses += 1
            return
        live = common_prefix(self._context_tokens(), prompt)
        if common_prefix(target.tokens, prompt) > live and self._write(target):
            self.stats.restores += 1
            self.stats.restored_tokens += len(target)
        else:
            self.stats.misses += 1

    def _count_reuse(self, prompt: npt.NDArray[np.intc]) -> None:
        """Count the prompt tokens `Llama.generate` will keep (its own prefix rule)."""
        n_live = int(self._llm.n_tokens)
        reused = common_prefix(self._context_tokens(), prompt)
        exact = n_live == len(prompt) and not getattr(self._llm, "_requires_eval", True)
        if reused == len(prompt) and not exact:
            reused -= 1  # generate() replays the last prompt token to refresh the logits
        self.stats.prompt_tokens += len(prompt)
        self.stats.reused_tokens += max(reused, 0)

    def _context_tokens(self) -> npt.NDArray[np.intc]:
        return self._llm.input_ids[: int(self._llm.n_tokens)]

    def _drop(self, channel: str) -> Snapshot | None:
        snapshot = self._snapshots.pop(channel, None)
        if snapshot is not None:
            self._used -= snapshot.nbytes
        return snapshot

    def _make_room(self, nbytes: int) -> None:
        while self._snapshots and self._used + nbytes > self.budget_bytes:
            _, evicted = self._snapshots.popitem(last=False)
            self._used -= evicted.nbytes
            self.stats.evictions += 1

    def _save(self, channel: str) -> None:
        need = self._size()
        if need <= 0:
            # An emptied context (a reset) says nothing new; an older snapshot stays valid
            # because restores are matched token by token.
            return
        self._drop(channel)
        if need > self.budget_bytes:
            self.stats.oversize += 1
            return
        self._make_room(need)
        snapshot = self._read()
        if snapshot is None:
            return
        self._snapshots[channel] = snapshot
        self._used += snapshot.nbytes
        self.stats.saves += 1
        self.stats.peak_bytes = max(self.stats.peak_bytes, self._used)

    def _size(self) -> int:
        """Bytes a snapshot of the context would take (0 when it is empty)."""
        import llama_cpp

        n = int(self._llm.n_tokens)
        if n <= 0:
            return 0
        self._trim(n)
        size = int(llama_cpp.llama_state_seq_get_size(self._llm.ctx, 0))
        return size + n * np.dtype(_TOKEN_DTYPE).itemsize if size > 0 else 0

    def _trim(self, n: int) -> None:
        """Drop cells past the `n` tokens the Python side knows (left by a failed decode)."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(self._llm.ctx), 0, n, -1)

    def _read(self) -> Snapshot | None:
        import llama_cpp

        n = int(self._llm.n_tokens)
        if n <= 0:
            return None
        self._trim(n)
        ctx = self._llm.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        if size <= 0:
            return None
        data = bytearray(size)
        view = (ctypes.c_uint8 * size).from_buffer(data)  # no copy: llama.cpp writes into data
        written = int(llama_cpp.llama_state_seq_get_data(ctx, view, size, 0))
        del view
        if written <= 0:
            return None
        if written < size:
            del data[written:]
        return Snapshot(np.array(self._llm.input_ids[:n], dtype=_TOKEN_DTYPE), data)

    def _write(self, snapshot: Snapshot) -> bool:
        import llama_cpp

        ctx = self._llm.ctx
        # No need to zero the buffers (data=False): set_data overwrites the cells it restores.
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), False)
        size = len(snapshot.data)
        view = (ctypes.c_uint8 * size).from_buffer(snapshot.data)
        read = int(llama_cpp.llama_state_seq_set_data(ctx, view, size, 0))
        del view
        if read != size:
            self._llm.reset()  # type: ignore[no-untyped-call]  # unannotated in llama-cpp-python
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), False)
            return False
        n = len(snapshot.tokens)
        self._llm.input_ids[:n] = snapshot.tokens
        self._llm.n_tokens = n
        # The logits belong to whatever was decoded last: generate() must decode a token.
        self._llm._requires_eval = True
        return True
