"""Discord text rules: splitting long turns and making webhook names Discord accepts."""

from __future__ import annotations

import random
import re

import pytest

from bot.channel.text import MESSAGE_LIMIT, mentioned_names, split_message, webhook_username

SENTENCE = "The lamps along the harbor wall flicker in the salt wind. "


def _random_text(rng: random.Random, size: int) -> str:
    """Words, sentences, line breaks and paragraphs in random proportions."""
    words = ["tide", "lantern", "Marta's", "rope", "a", "quietly", "storm-wrecked", "»gull«"]
    out: list[str] = []
    while sum(map(len, out)) < size:
        out.append(rng.choice(words))
        roll = rng.random()
        if roll < 0.08:
            out.append(rng.choice([".", "!", "?", "…", '."', ".*"]) + " ")
        elif roll < 0.1:
            out.append("\n")
        elif roll < 0.12:
            out.append("\n\n")
        else:
            out.append(" ")
    return "".join(out)


def test_short_text_is_one_message() -> None:
    assert split_message("  Hello there.  ") == ["Hello there."]
    assert split_message("") == [""]
    exact = "x" * MESSAGE_LIMIT
    assert split_message(exact) == [exact]


def test_one_character_over_the_limit_makes_two_messages() -> None:
    text = "word " * 400 + "end"  # 2,003 characters
    parts = split_message(text)
    assert len(parts) == 2
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert " ".join(parts).split() == text.split()


def test_prefers_paragraph_boundaries() -> None:
    paragraphs = [f"{i}. " + SENTENCE * 8 for i in range(6)]  # ~470 characters each
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_message(text)
    assert len(parts) == 2
    for part in parts:
        assert re.match(r"\d\. The lamps", part), part[:20]  # starts a paragraph
        assert part.endswith("wind.")
    assert "\n\n".join(parts) == text


def test_prefers_sentence_boundaries_without_paragraphs() -> None:
    text = (SENTENCE * 70).strip()  # ~4,000 characters, one paragraph
    parts = split_message(text)
    assert len(parts) == 3
    assert all(p.startswith("The lamps") and p.endswith("wind.") for p in parts)
    assert " ".join(parts) == text


def test_sentence_end_after_a_closing_quote_or_emphasis() -> None:
    sentence = '*She laughs.* "Go home." '
    parts = split_message((sentence * 120).strip(), limit=500)
    assert all(p.endswith(('home."', "laughs.*")) for p in parts)


def test_falls_back_to_words_then_hard_cuts() -> None:
    words = ("lantern " * 600).strip()
    parts = split_message(words)
    assert all(p.startswith("lantern") and p.endswith("lantern") for p in parts)
    assert " ".join(parts) == words

    blob = "x" * 4500
    parts = split_message(blob)
    assert [len(p) for p in parts] == [2000, 2000, 500]
    assert "".join(parts) == blob


@pytest.mark.parametrize("seed", range(25))
def test_random_texts_never_exceed_the_limit_and_keep_every_word(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([MESSAGE_LIMIT, 1914, 300])
    text = _random_text(rng, rng.randint(limit // 2, limit * 5))
    parts = split_message(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert all(p == p.strip() for p in parts)
    assert " ".join(parts).split() == text.split()
    if len(text.strip()) > limit:
        assert len(parts) >= 2


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("Discord Dan", r"(?i)discord"),
        ("DISCORDIA", r"(?i)discord"),
        ("Clyde", r"(?i)clyde"),
        ("clyde the bard", r"(?i)clyde"),
        ("@everyone", r"@"),
        ("Sir: Knight", r":"),
        ("#1 Fan", r"#"),
        ("```Code```", r"```"),
    ],
)
def test_webhook_names_are_sanitised(name: str, bad: str) -> None:
    cleaned = webhook_username(name)
    assert not re.search(bad, cleaned)
    assert 1 <= len(cleaned) <= 80
    # What is left stays readable: only the zero-width space was added.
    assert cleaned.replace("\u200b", "").casefold() in re.sub(r"[@#:`]", "", name).casefold()


def test_webhook_name_edge_cases() -> None:
    assert webhook_username("Marta") == "Marta"
    assert webhook_username("  Old   Wick  ") == "Old Wick"
    assert webhook_username("Discord") == "D\u200biscord"
    for reserved in ("everyone", "@here", "@@", "", ":::"):
        cleaned = webhook_username(reserved)
        assert cleaned and "@" not in cleaned and ":" not in cleaned
        assert cleaned.strip().casefold() not in ("", "everyone", "here")  # Discord refuses those
    assert len(webhook_username("Bartholomew " * 20)) == 80
    assert len(webhook_username("discord" * 20)) == 80


def test_mentioned_names_finds_whole_words_in_the_order_named() -> None:
    names = ["Marta", "Old Wick"]
    assert mentioned_names("hey old wick, and marta", names) == ("Old Wick", "Marta")
    assert mentioned_names("Marta? Old Wick? Marta!", names) == ("Marta", "Old Wick")
    assert mentioned_names("Martabak for dinner", names) == ()
    assert mentioned_names("nobody here", names) == ()


def test_a_name_inside_a_longer_mentioned_name_is_not_named() -> None:
    names = ["Tobin", "Old Tobin", "Marta", "Marta Vell"]
    assert mentioned_names("Old Tobin, and Marta Vell", names) == ("Old Tobin", "Marta Vell")
    assert mentioned_names("Old Tobin and Tobin", names) == ("Old Tobin", "Tobin")
