"""Which words recall searches with: plain, telling, bounded, the rare ones first."""

from __future__ import annotations

from bot.recall.rules import (
    CANDIDATES,
    COMMON_TURNS,
    QUERY_POSTINGS,
    QUERY_WORDS,
    matched_terms,
    query_words,
    recallable,
    sheet_keywords,
    telling_words,
)

SHEET = (
    "**Character Name**: Mara\n**Occupation/Profession**: Innkeeper\n"
    "**Keywords**: smuggling, lighthouse\n**Biography**: Born in the fog."
)


def test_query_words_start_with_the_speaker_then_the_newest_turn() -> None:
    recent = ["The gulls circle the pier.", "Mara, do you remember the silver key?"]
    words = query_words(recent, "Mara", SHEET)
    assert words == [
        "mara",
        "smuggling",
        "lighthouse",
        "innkeeper",
        "silver",
        "key",
        "gulls",
        "circle",
        "pier",
    ]
    # Stop words, short words and numbers never become query words.
    assert query_words(["Do you remember it? I'm at 42, ok?"], "", "") == []


def test_query_words_are_plain_and_bounded_whatever_the_text() -> None:
    hostile = "key\" OR NEAR(a b) * ^x '; DROP TABLE turns; -- " + " ".join(
        f"word{n}x" for n in range(500)
    )
    words = query_words([hostile], "Mara", "")
    assert len(words) == CANDIDATES
    assert all(w.isalnum() for w in words)
    assert words[:5] == ["mara", "key", "drop", "table", "turns"]


def test_sheet_keywords_come_from_few_fields() -> None:
    assert sheet_keywords(SHEET) == ("smuggling", "lighthouse", "innkeeper")
    assert sheet_keywords("no fields at all") == ()


def test_telling_words_are_the_rare_ones_in_the_candidates_order() -> None:
    candidates = ["mara", "silver", "key", "pier", "gulls", "unknown"]
    counts = {"mara": 900, "silver": 3, "key": 12, "pier": COMMON_TURNS, "gulls": 30}
    # Unknown words match nothing; common ones say little; "mara" is far commoner than
    # "silver" (more than eight times): it would outvote it.
    assert telling_words(candidates, counts) == ["silver", "key", "gulls"]
    assert telling_words(candidates, {}) == []
    # With nothing rare at all, middling words serve, but never a common one.
    assert telling_words(["door", "pier"], {"door": 400, "pier": COMMON_TURNS}) == ["door"]


def test_telling_words_bound_what_a_search_costs() -> None:
    many = [f"w{n}" for n in range(40)]
    rare = telling_words(many, dict.fromkeys(many, 1))
    assert len(rare) == QUERY_WORDS
    middling = telling_words(many, dict.fromkeys(many, 600))
    assert len(middling) == QUERY_POSTINGS // 600
    assert middling == many[: len(middling)]


def test_matched_terms_follow_the_stemming() -> None:
    text = "I hid the silver keys under the floorboards."
    assert matched_terms(text, ["silver", "key", "floorboard", "cellar"]) == (
        "silver",
        "key",
        "floorboard",
    )


def test_ooc_and_empty_turns_are_never_recalled() -> None:
    assert recallable("The key is in the well.")
    for aside in ("(( brb ))", "// lag", "OOC: pizza", "   "):
        assert not recallable(aside)
