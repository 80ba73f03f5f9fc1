"""A GGUF model with random weights and a real model's shape, for offload and speed checks.

Weights are written as Q8_0 with random quants and one fixed scale, straight from random bytes:
no float tensor is ever made, so a 12B model costs its disk write and not minutes of numpy. The
same random block backs every layer (speed does not depend on the values). `llama-quantize
--allow-requantize` then turns it into the Q4_K_M an admin would download.

The tokenizer is a SentencePiece-style vocabulary llama.cpp accepts: control tokens, the 256
byte-fallback tokens, then pieces (an optional word-start `▁` and letters) that are closed under
prefixes, so every word tokenizes by pairwise merges and any other character falls back to bytes.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NEMO_12B", "SHAPES", "TINY", "ModelShape", "synthetic_vocab", "write_model"]

Q8_BLOCK = 32  # elements per Q8_0 block: one float16 scale, then 32 int8 quants
Q8_BLOCK_BYTES = 2 + Q8_BLOCK
# Quants are uniform over [-127, 127] (standard deviation ~73): this scale gives weights a
# standard deviation of ~0.02, small enough that 40 random layers stay finite in float16.
Q8_SCALE = 0.02 / 73.0
WORD_START = "\u2581"


@dataclass(frozen=True)
class ModelShape:
    """The hyperparameters of a llama-architecture model."""

    name: str
    n_layers: int
    hidden: int
    ffn: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    context_length: int = 131_072
    rope_theta: float = 1_000_000.0

    def tensor_shapes(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """Every tensor's name and numpy shape (rows = output features), as llama.cpp names them."""
        q, kv = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        yield "token_embd.weight", (self.vocab, self.hidden)
        for i in range(self.n_layers):
            yield f"blk.{i}.attn_norm.weight", (self.hidden,)
            yield f"blk.{i}.attn_q.weight", (q, self.hidden)
            yield f"blk.{i}.attn_k.weight", (kv, self.hidden)
            yield f"blk.{i}.attn_v.weight", (kv, self.hidden)
            yield f"blk.{i}.attn_output.weight", (self.hidden, q)
            yield f"blk.{i}.ffn_norm.weight", (self.hidden,)
            yield f"blk.{i}.ffn_gate.weight", (self.ffn, self.hidden)
            yield f"blk.{i}.ffn_up.weight", (self.ffn, self.hidden)
            yield f"blk.{i}.ffn_down.weight", (self.hidden, self.ffn)
        yield "output_norm.weight", (self.hidden,)
        yield "output.weight", (self.vocab, self.hidden)

    def parameters(self) -> int:
        """How many weights the model has."""
        return sum(int(np.prod(shape)) for _, shape in self.tensor_shapes())


# Mistral-Nemo-12B: the 12B an 8-12 GB card is sized for (the README's reference model).
NEMO_12B = ModelShape("Mistral-Nemo-12B", 40, 5120, 14336, 32, 8, 128, 131_072)
# Small enough for a test on two CPU cores; 256 wide so that K-quants apply to it too.
TINY = ModelShape("tiny", 2, 256, 512, 4, 2, 64, 512, context_length=4096, rope_theta=10_000.0)
SHAPES = {"nemo12b": NEMO_12B, "tiny": TINY}


def synthetic_vocab(size: int) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of a SentencePiece vocabulary of exactly `size` tokens."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    singles = [WORD_START, *string.ascii_letters, *string.digits, *string.punctuation]
    if size < len(tokens) + len(singles):
        raise ValueError(f"a vocabulary needs at least {len(tokens) + len(singles)} tokens")
    pieces = _pieces(size - len(tokens) - len(singles))
    tokens += singles + pieces
    types += [gguf.TokenType.NORMAL] * (len(singles) + len(pieces))
    # Shorter pieces merge first; the control and byte tokens never win a merge.
    scores = [0.0] * 259 + [-float(rank) for rank in range(len(singles) + len(pieces))]
    return tokens, scores, [int(t) for t in types]


def _pieces(count: int) -> list[str]:
    """`count` pieces of two or more characters, each of whose prefixes is a token too."""
    letters = string.ascii_lowercase
    found: list[str] = []
    for length in itertools.count(2):
        for start in (WORD_START, ""):
            rest = length - len(start)
            for combo in itertools.product(letters, repeat=rest):
                if len(found) == count:
                    return found
                found.append(start + "".join(combo))
    raise AssertionError("unreachable")


def _q8_random(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """Q8_0 bytes of a random (rows, cols) matrix: the byte shape gguf expects for raw Q8_0."""
    rows, cols = shape
    if cols % Q8_BLOCK:
        raise ValueError(f"{cols} columns are not a whole number of Q8_0 blocks")
    blocks = np.empty((rows, cols // Q8_BLOCK, Q8_BLOCK_BYTES), dtype=np.uint8)
    blocks[..., :2] = np.frombuffer(np.float16(Q8_SCALE).tobytes(), dtype=np.uint8)
    blocks[..., 2:] = rng.integers(
        -127, 128, size=(rows, cols // Q8_BLOCK, Q8_BLOCK), dtype=np.int8
    ).view(np.uint8)
    return blocks.reshape(rows, cols // Q8_BLOCK * Q8_BLOCK_BYTES)


def write_model(target: Path, shape: ModelShape, seed: int = 1234) -> int:
    """Write the model; returns its size in bytes."""
    import gguf

    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_name(f"random {shape.name}")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.n_layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.n_heads)
    writer.add_head_count_kv(shape.n_kv_heads)
    writer.add_key_length(shape.head_dim)
    writer.add_value_length(shape.head_dim)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(shape.vocab)
    tokens, scores, types = synthetic_vocab(shape.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    ones = np.ones(shape.hidden, dtype=np.float32)
    blocks: dict[tuple[int, ...], np.ndarray[Any, Any]] = {}
    for name, dims in shape.tensor_shapes():
        if len(dims) == 1:
            writer.add_tensor(name, ones)
            continue
        if dims not in blocks:
            blocks[dims] = _q8_random(dims, rng)
        writer.add_tensor(name, blocks[dims], raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target.stat().st_size
