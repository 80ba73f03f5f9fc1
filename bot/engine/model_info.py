"""GGUF model metadata (architecture, shape, tensor sizes) read with the `gguf` package."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import UserError

__all__ = ["ModelInfo", "ModelInfoError", "read_model_info"]

GGUF_MAGIC = b"GGUF"
_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.")


class ModelInfoError(UserError, ValueError):
    """The model file is missing, unreadable or not a usable GGUF model."""


@dataclass(frozen=True)
class ModelInfo:
    """Shape and size facts about one GGUF model file."""

    path: Path
    architecture: str
    name: str
    n_layers: int
    context_length: int
    embedding_length: int
    n_heads: int
    n_kv_heads: int
    head_dim_k: int
    head_dim_v: int
    vocab_size: int
    file_bytes: int
    tensor_bytes: int
    layer_bytes: tuple[int, ...]
    non_layer_bytes: int
    output_bytes: int

    @property
    def max_layer_bytes(self) -> int:
        """Size of the largest repeating layer."""
        return max(self.layer_bytes, default=0)

    @property
    def mean_layer_bytes(self) -> int:
        """Average repeating-layer size, rounded up."""
        return -(-sum(self.layer_bytes) // len(self.layer_bytes)) if self.layer_bytes else 0


def read_model_info(path: str | Path) -> ModelInfo:
    """Read a GGUF file's metadata and tensor sizes without loading tensor data."""
    path = Path(path).expanduser()
    try:
        stat = path.resolve().stat()
    except OSError as exc:
        raise ModelInfoError(f"model file not found: {path}") from exc
    if not path.is_file():
        raise ModelInfoError(f"model path is not a file: {path}")
    # GGUFReader parses every vocabulary string (seconds for big vocabularies): cache per file.
    return _read_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, size: int, mtime_ns: int) -> ModelInfo:
    """Parse one file version (the size and mtime only key the cache)."""
    del mtime_ns
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelInfoError(f"cannot read model file {path}: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelInfoError(f"not a GGUF file (bad magic {magic!r}): {path}")

    import gguf

    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # truncated or corrupt files fail in numpy with assorted errors
        raise ModelInfoError(f"cannot parse GGUF file {path}: {exc}") from exc

    def field(key: str) -> Any:
        f = reader.get_field(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelInfoError(f"GGUF file has no general.architecture: {path}")

    def arch_int(key: str, default: int | None = None) -> int:
        value = field(key.format(arch=arch))
        if isinstance(value, list):  # per-layer values (e.g. OpenELM): size for the largest
            value = max(value, default=None)
        if value is None:
            if default is None:
                raise ModelInfoError(f"GGUF file lacks {key.format(arch=arch)}: {path}")
            return default
        return int(value)

    n_layers = arch_int("{arch}.block_count")
    embedding = arch_int("{arch}.embedding_length")
    n_heads = arch_int("{arch}.attention.head_count")
    n_kv_heads = arch_int("{arch}.attention.head_count_kv", n_heads) or n_heads
    default_head_dim = embedding // n_heads if n_heads else 0

    layer_bytes = [0] * n_layers
    sizes: dict[str, int] = {}
    for tensor in reader.tensors:
        n_bytes = int(tensor.n_bytes)
        sizes[tensor.name] = n_bytes
        match = _BLOCK_TENSOR.match(tensor.name)
        if match and int(match.group(1)) < n_layers:
            layer_bytes[int(match.group(1))] += n_bytes
    tensor_bytes = sum(sizes.values())
    # Tied embeddings: llama.cpp loads a second copy of token_embd as the output matrix.
    output_matrix = sizes.get("output.weight", sizes.get("token_embd.weight", 0))

    vocab = field(f"{arch}.vocab_size")
    if vocab is None:
        tokens = reader.get_field("tokenizer.ggml.tokens")
        vocab = len(tokens.data) if tokens is not None else 0

    name = field("general.name")
    return ModelInfo(
        path=Path(path),
        architecture=arch,
        name=name if isinstance(name, str) and name else Path(path).stem,
        n_layers=n_layers,
        context_length=arch_int("{arch}.context_length", 0),
        embedding_length=embedding,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim_k=arch_int("{arch}.attention.key_length", default_head_dim),
        head_dim_v=arch_int("{arch}.attention.value_length", default_head_dim),
        vocab_size=int(vocab),
        file_bytes=size,
        tensor_bytes=tensor_bytes,
        layer_bytes=tuple(layer_bytes),
        non_layer_bytes=tensor_bytes - sum(layer_bytes),
        output_bytes=output_matrix + sizes.get("output_norm.weight", 0),
    )
