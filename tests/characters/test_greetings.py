"""A card's greetings in swipe order: group-only ones first in a group scene, no repeats."""

from __future__ import annotations

from bot.characters.card_json import GREETING_VERSIONS_MAX, greeting_versions

CARD = {
    "spec": "chara_card_v3",
    "data": {
        "first_mes": "Hello.",
        "alternate_greetings": ["Hi there.", "  ", "Hello.", 7, "Evening."],
        "group_only_greetings": ["Hello, all of you."],
    },
}


def test_alone_the_main_greeting_then_the_alternates() -> None:
    versions = greeting_versions("Hello.", CARD, group=False)
    assert versions == ["Hello.", "Hi there.", "Evening."]  # blanks, repeats, non-text dropped


def test_in_a_group_the_group_only_greetings_come_first() -> None:
    versions = greeting_versions("Hello.", CARD, group=True)
    assert versions == ["Hello, all of you.", "Hello.", "Hi there.", "Evening."]


def test_without_a_card_or_a_greeting() -> None:
    assert greeting_versions("Hello.", None, group=True) == ["Hello."]
    assert greeting_versions(None, None, group=False) == []
    assert greeting_versions("", {"data": "broken"}, group=False) == []
    only_group = {"data": {"group_only_greetings": ["All here?"]}}
    assert greeting_versions(None, only_group, group=False) == []
    assert greeting_versions(None, only_group, group=True) == ["All here?"]


def test_a_card_with_hundreds_of_greetings_gives_a_bounded_number() -> None:
    card = {"data": {"alternate_greetings": [f"Greeting {i}." for i in range(500)]}}
    assert len(greeting_versions("Hi.", card, group=False)) == GREETING_VERSIONS_MAX
