"""An embedding GGUF on llama.cpp (RECALL_EMBED_MODEL), driven from its own worker thread."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
TEXT_CHARS = 2000  # what of a text is embedded: a long turn's start says what it is about
N_BATCH = 512  # tokens of one text at most (the window of the usual embedding models)
N_SEQ = 8  # texts decoded together
MODEL_KEY_CHARS = 100  # the `model` column


def digest(text: str) -> int:
    """A 64-bit hash of `text` (signed, as the column stores it): says a text changed."""
    raw = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(raw, "big", signed=True)


def to_bytes(vector: Vectors) -> bytes:
    """A vector as stored: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> Vectors:
    """A stored vector."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def model_key(path: Path) -> str:
    """What tells this model's vectors from another's: its file name and size."""
    size = path.stat().st_size if path.is_file() else 0
    suffix = f":{size}"
    return path.name[: MODEL_KEY_CHARS - len(suffix)] + suffix


class Embedder:
    """Unit-length embeddings of texts; the model loads on first use, on the worker thread.

    A model that fails to load is logged once and recall goes on by words alone: an optional
    feature never stops the bot.
    """

    def __init__(self, path: Path, *, gpu_layers: int = 0, threads: int | None = None) -> None:
        self.path = path
        self.model = model_key(path)
        self.gpu_layers = gpu_layers
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._llm: Llama | None = None
        self._lock = asyncio.Lock()
        self.failed = False

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded (it loads on the first `embed`)."""
        return self._llm is not None

    async def embed(self, texts: Sequence[str]) -> Vectors | None:
        """One unit-length row per text; None when the model could not be loaded or run."""
        if self.failed or not texts:
            return None
        loop = asyncio.get_running_loop()
        async with self._lock:  # one load, and one batch at a time on the one thread
            try:
                if self._llm is None:
                    self._llm = await loop.run_in_executor(self._executor, self._load)
                return await loop.run_in_executor(self._executor, self._embed, list(texts))
            except (OSError, ValueError, RuntimeError) as exc:
                self.failed = True
                log.warning("recall embeddings are off: %s failed: %s", self.path.name, exc)
                return None

    def _load(self) -> Llama:
        from llama_cpp import Llama

        def load(gpu_layers: int) -> Llama:
            return Llama(
                model_path=str(self.path),
                embedding=True,
                n_ctx=N_BATCH * N_SEQ,
                n_batch=N_BATCH,
                n_ubatch=N_BATCH,
                n_seq_max=N_SEQ,
                n_gpu_layers=gpu_layers,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )

        try:
            return load(self.gpu_layers)
        except (ValueError, RuntimeError):
            if self.gpu_layers == 0:
                raise
            log.warning("%s did not load on the GPU; embedding on the CPU", self.path.name)
            return load(0)

    def _embed(self, texts: list[str]) -> Vectors:
        assert self._llm is not None
        cut = [text[:TEXT_CHARS] if text.strip() else "." for text in texts]
        out: Any = self._llm.embed(cut, truncate=True)
        rows = []
        for item in out:
            array = np.asarray(item, dtype=np.float32)
            # A model without pooling of its own (a causal LM) gives one vector per token.
            rows.append(array.mean(axis=0) if array.ndim == 2 else array)
        matrix = np.vstack(rows)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.where(norms > 0, norms, 1)).astype(np.float32)

    async def close(self) -> None:
        """Free the model and the worker thread."""
        llm, self._llm = self._llm, None
        if llm is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, llm.close)
        self._executor.shutdown(wait=True)
