"""Tests for lenient sheet parsing and canonical rendering (seed 000's Keri Wolf layout)."""

from __future__ import annotations

import pytest

from bot.characters.sheet import (
    SHEET_MAX_CHARS,
    STANDARD_FIELDS,
    Sheet,
    SheetError,
    SheetField,
    parse_sheet,
    render_sheet,
)

# Verbatim from shared/seeds/000_abe6203756c1cc92.txt.
KERI = """\
**Character Name**: Keri Wolf
**Age**: 21
**Race**: Vampire
**Mageblood Type**: Hydromancy
**Favored Magic Class**: Aqua
**Previous Magic Training**: Novice
**Occupation/Profession**: None specified
**Appearance**:
- Height: 5'9"
- A wooden wolf necklace around her neck, contrasting with her pale skin
- Three swords strapped to her waist
- A tattoo of a thorn vine, her family crest, on her right arm
- Normal eye color is red but changes based on her mood or the topic of conversation
- Carries a hunk of wood and a carving knife for personal activities
**Biography**:
Keri Wolf grew up in a family of adopted siblings in Djarkel. She had a normal childhood, with her best friend Satori, and was taught basic self-defense by her father. Her brothers were considered troublemakers but remained close to her. On her 21st birthday, her family was slaughtered by a vampire nest, and she was bitten. This led to her developing vampiric traits and seeking answers at the college.
**Good Attributes**:
- Easy-going
- Observant
- Helps those in trouble
- Soft-hearted
- Kind
- Cool-headed
- Good at getting out of difficult situations
- Avoids violence
- Gets along well with different people
- Loves animals
**Bad Attributes**:
- Sunlight sensitivity
- Hatred towards vampires outside the college
- Keeps feelings in check, leading to dangerous outbursts
- Cruel manner of speaking
- Thirst for revenge
**Equipment**:
- Wooden wolf necklace
- Three swords (one engraved with a rose, one engraved with her father's name, and one for decoration)
- Carving knife
- Hunk of wood
- Stealth Ring
- Knight's Shield
**Other Information**:
- Secret word: rebirth"""  # noqa: E501 (verbatim seed text)


def test_keri_round_trips_byte_for_byte() -> None:
    sheet = parse_sheet(KERI)
    assert render_sheet(sheet) == KERI
    assert [f.label for f in sheet.fields] == list(STANDARD_FIELDS)
    assert sheet.name == "Keri Wolf"


def test_keri_fields_parsed() -> None:
    sheet = parse_sheet(KERI)
    appearance = sheet.get("appearance")
    assert appearance is not None
    assert appearance.text == ""
    assert appearance.items[0] == "Height: 5'9\""
    assert len(appearance.items) == 6
    bio = sheet.get("BIOGRAPHY")
    assert bio is not None and bio.text.startswith("Keri Wolf grew up") and not bio.items
    good = sheet.get("Good Attributes")
    assert good is not None and "Easy-going" in good.items and "Soft-hearted" in good.items
    other = sheet.get("Other Information")
    assert other is not None and other.items == ["Secret word: rebirth"]


def test_one_line_paste_matches_multi_line() -> None:
    one_line = KERI.replace("\n", " ")
    assert "\n" not in one_line
    assert parse_sheet(one_line) == parse_sheet(KERI)
    assert render_sheet(parse_sheet(one_line)) == KERI


def test_one_line_example_from_brief() -> None:
    text = (
        "**Character Name**: Keri Wolf **Age**: 21 **Appearance**: - Height: 5'9\" "
        "- Three swords **Biography**: Keri grew up - quietly - in Djarkel."
    )
    sheet = parse_sheet(text)
    assert render_sheet(sheet) == (
        "**Character Name**: Keri Wolf\n**Age**: 21\n**Appearance**:\n- Height: 5'9\"\n"
        "- Three swords\n**Biography**:\nKeri grew up - quietly - in Djarkel."
    )


def test_one_line_template_form_with_bullets() -> None:
    text = "- **Character Name**: Bob - **Age**: 40 - **Equipment**: - Axe - Well-worn boots"
    sheet = parse_sheet(text)
    assert sheet.name == "Bob"
    age = sheet.get("Age")
    assert age is not None and age.text == "40"
    equipment = sheet.get("Equipment")
    assert equipment is not None and equipment.items == ["Axe", "Well-worn boots"]


def test_lenient_labels() -> None:
    text = "\n".join(
        [
            "- **character name**: Mira",
            "**AGE:** 19",
            "Race: Elf",
            "- **Occupation / Profession**: Scout",
            "**Hobbies**: Fishing",
            "Note: this line is prose, not a field",
            "**Likes**:",
            "- Cats",
            "- Rain",
        ]
    )
    sheet = parse_sheet(text)
    assert [f.label for f in sheet.fields] == [
        "Character Name",
        "Age",
        "Race",
        "Occupation/Profession",
        "Hobbies",
        "Likes",
    ]
    hobbies = sheet.get("hobbies")
    assert hobbies is not None
    assert hobbies.text == "Fishing\nNote: this line is prose, not a field"
    assert render_sheet(sheet) == "\n".join(
        [
            "**Character Name**: Mira",
            "**Age**: 19",
            "**Race**: Elf",
            "**Occupation/Profession**: Scout",
            "**Hobbies**:",
            "Fishing",
            "Note: this line is prose, not a field",
            "**Likes**:",
            "- Cats",
            "- Rain",
        ]
    )


def test_custom_fields_keep_input_order_after_standard_ones() -> None:
    text = "**Zodiac**: Leo\n**Age**: 30\n**Anthem**: Loud\n**Character Name**: Ann"
    assert render_sheet(parse_sheet(text)) == (
        "**Character Name**: Ann\n**Age**: 30\n**Zodiac**: Leo\n**Anthem**: Loud"
    )


def test_continuation_lines() -> None:
    text = "**Biography**:\nFirst line\nsecond line\n**Equipment**:\n- A long item that\n  wraps"
    sheet = parse_sheet(text)
    bio = sheet.get("Biography")
    equipment = sheet.get("Equipment")
    assert bio is not None and bio.text == "First line\nsecond line"
    assert equipment is not None and equipment.items == ["A long item that wraps"]
    lone = parse_sheet("**Equipment**:\n-\n  indented text\n- Rope")
    assert lone.get("Equipment") == SheetField("Equipment", "indented text", ["Rope"])


def test_empty_fields_omitted() -> None:
    text = (
        "- **Character Name**: Tom\n- **Age**:\n- **Race**: (if applicable)\n"
        "**Equipment**:\n**Other Information**: Likes tea"
    )
    sheet = parse_sheet(text)
    assert [f.label for f in sheet.fields] == ["Character Name", "Other Information"]
    manual = Sheet([SheetField("Character Name", "Tom"), SheetField("Age"), SheetField("Hobby")])
    assert render_sheet(manual) == "**Character Name**: Tom"


def test_plain_prose_becomes_biography() -> None:
    text = "A tall elf - mostly harmless - who likes well-made bows.\nShe sings."
    sheet = parse_sheet(text)
    assert [f.label for f in sheet.fields] == ["Biography"]
    assert sheet.name is None
    assert render_sheet(sheet) == "**Biography**:\n" + text


def test_text_before_first_field_joins_biography() -> None:
    sheet = parse_sheet("An old sailor.\n**Age**: 70\n**Biography**:\nBorn at sea.")
    bio = sheet.get("Biography")
    assert bio is not None and bio.text == "An old sailor.\n\nBorn at sea."


def test_code_fences_ignored_and_crlf() -> None:
    sheet = parse_sheet("```\r\n**Character Name**: Ann\r\n**Age**: 3\r\n```")
    assert render_sheet(sheet) == "**Character Name**: Ann\n**Age**: 3"


def test_too_long_and_empty() -> None:
    with pytest.raises(SheetError, match="too long"):
        parse_sheet("x" * (SHEET_MAX_CHARS + 1))
    parse_sheet("x" * SHEET_MAX_CHARS)
    with pytest.raises(SheetError):
        parse_sheet("   \n ")
    with pytest.raises(SheetError):
        parse_sheet("**Age**:\n**Race**:")


def test_set_and_get() -> None:
    sheet = parse_sheet("**Character Name**: Ann")
    sheet.set("age", "22")
    sheet.set("Equipment", items=["Rope", " "])
    sheet.set("Personality", "Bold\nLoud")
    assert sheet.get("AGE") == SheetField("Age", "22")
    assert render_sheet(sheet) == (
        "**Character Name**: Ann\n**Age**: 22\n**Equipment**:\n- Rope\n**Personality**:\nBold\nLoud"
    )
    sheet.set("Age")
    assert sheet.get("Age") is None


@pytest.mark.parametrize(
    "sheet",
    [
        Sheet([SheetField("Biography", "  one\n\n\n two  ", ["a"]), SheetField("x", "y")]),
        Sheet([SheetField("Age", "line1\nline2"), SheetField("Race", "- Elf")]),
        Sheet([SheetField("Notes", "text\n- looks like an item\nmore")]),
    ],
)
def test_render_is_idempotent(sheet: Sheet) -> None:
    once = render_sheet(sheet)
    assert render_sheet(parse_sheet(once)) == once
