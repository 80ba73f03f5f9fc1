"""The pure parts: whom a typed whisper is for, and the marks a GM reads."""

from __future__ import annotations

from bot.knowledge.rules import split_addressee
from bot.knowledge.wording import mark, typed_name


def test_the_longest_cast_name_a_whisper_starts_with_is_its_addressee() -> None:
    names = ["Old Tom", "Old", "Marta"]
    assert split_addressee("old tom  psst, over here", names) == ("old tom", "psst, over here")
    assert split_addressee("Old tomorrow we sail", names) == ("Old", "tomorrow we sail")
    assert split_addressee("Marta", names) == ("Marta", "")
    assert split_addressee("  Ivo hello there ", names) == ("Ivo", "hello there")
    assert split_addressee("", names) == ("", "")


def test_marks_name_whom_a_secret_was_for() -> None:
    assert mark("whisper", ["Marta"]) == "(whisper to Marta)"
    assert mark("tell", ["Rook", "Marta"]) == "(told to Marta and Rook)"
    assert mark("tell", []) == "(told to nobody)"
    assert mark("post", ["Marta"]) == ""


def test_a_typed_name_is_repeated_on_one_bounded_line() -> None:
    assert typed_name("Old\nTom\u2028 ") == "Old Tom"
    assert typed_name("   ") == "(no name)"
    assert len(typed_name("x" * 500)) == 80
