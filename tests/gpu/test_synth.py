"""The synthesized model: its vocabulary, its shape, and that real llama.cpp runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench.gpu.synth import NEMO_12B, TINY, synthetic_vocab
from bot.engine.model_info import read_model_info


def test_the_vocabulary_has_the_exact_size_and_closed_prefixes() -> None:
    tokens, scores, types = synthetic_vocab(131_072)
    assert len(tokens) == len(scores) == len(types) == 131_072
    assert len(set(tokens)) == len(tokens)
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and tokens[3 + 10] == "<0x0A>"
    known = set(tokens)
    for piece in tokens[259:]:
        assert len(piece) == 1 or piece[:-1] in known, piece
    with pytest.raises(ValueError):
        synthetic_vocab(300)


def test_nemo_shape_is_a_12b_model() -> None:
    assert NEMO_12B.parameters() == pytest.approx(12.25e9, rel=0.01)
    shapes = dict(NEMO_12B.tensor_shapes())
    assert shapes["blk.0.attn_q.weight"] == (4096, 5120)  # 32 heads of 128, not hidden / heads
    assert shapes["blk.39.attn_k.weight"] == (1024, 5120)
    assert shapes["blk.0.ffn_down.weight"] == (5120, 14336)
    assert shapes["output.weight"] == (131_072, 5120)


def test_the_written_file_reads_back_with_its_shape(tiny_model: Path) -> None:
    info = read_model_info(tiny_model)
    assert (info.architecture, info.n_layers, info.embedding_length) == ("llama", 2, 256)
    assert (info.n_heads, info.n_kv_heads, info.head_dim_k, info.vocab_size) == (4, 2, 64, 512)
    assert info.layer_bytes[0] == info.layer_bytes[1] > 0
    assert info.output_bytes > 0 and info.context_length == TINY.context_length


def _generate(path: Path) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(str(path), n_ctx=256, n_threads=2, seed=1, verbose=False)
    try:
        words = llm.tokenize(b"the quick brown fox")
        # Words tokenize into the synthetic pieces: neither byte fallback nor unknown tokens.
        assert all(token >= 259 for token in words[1:]), words
        out = llm.create_completion("Once upon a time", max_tokens=6, temperature=0.8)
        assert out["usage"]["completion_tokens"] >= 1
        return list(words)
    finally:
        llm.close()


@pytest.mark.model
def test_llama_cpp_loads_generates_and_quantizes_it(tiny_model: Path, tmp_path: Path) -> None:
    import llama_cpp

    _generate(tiny_model)
    target = tmp_path / "tiny-q4_k_m.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.allow_requantize = True
    params.nthread = 2
    code = llama_cpp.llama_model_quantize(str(tiny_model).encode(), str(target).encode(), params)
    assert code == 0
    assert target.stat().st_size < tiny_model.stat().st_size
    _generate(target)
