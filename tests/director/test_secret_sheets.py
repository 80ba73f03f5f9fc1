"""Secret fields of a sheet: out of every other speaker's copy, the rest kept as written."""

from __future__ import annotations

import pytest

from bot.characters.sheet import parse_sheet
from bot.scenes.views import public_sheet

MARTA = (
    "**Character Name**: Marta\n"
    "**Biography**:\n"
    "Keeps the harbor.\n"
    "  Odd spacing stays.\n"
    "**Secret**: She smuggles saffron.\n"
    "**Likes**: Quiet nights"
)


def test_the_secret_field_goes_and_every_other_line_stays_as_written() -> None:
    assert public_sheet(MARTA) == (
        "**Character Name**: Marta\n"
        "**Biography**:\n"
        "Keeps the harbor.\n"
        "  Odd spacing stays.\n"
        "**Likes**: Quiet nights"
    )


@pytest.mark.parametrize("label", ["secret", "SECRET", "Secrets", "sEcReTs"])
def test_labels_compare_without_case(label: str) -> None:
    sheet = f"**Character Name**: Ivo\n**{label}**:\n- He reads letters.\n- He sells them."
    assert public_sheet(sheet) == "**Character Name**: Ivo"


def test_both_labels_go() -> None:
    sheet = "**Secret**: one\n**Character Name**: Ivo\n**Secrets**:\n- two"
    assert public_sheet(sheet) == "**Character Name**: Ivo"


def test_a_sheet_with_no_secret_field_is_untouched() -> None:
    for sheet in (
        "**Character Name**: Ivo\n**Biography**: Has a secret: none.",
        "Secret: plain prose is no field.",
        "**Character Name**: Ivo\n\n\n**Biography**:  spaced  ",
    ):
        assert public_sheet(sheet) is sheet


def test_a_secret_written_some_other_way_still_goes() -> None:
    # Not the canonical layout: the field cannot be cut out line for line, so the rest is
    # rendered again (canonically), with no secret in it.
    sheet = "- **Secret** :   She smuggles saffron.\n   **Character Name**: Marta\n- **Likes**: tea"
    public = public_sheet(sheet)
    assert "saffron" not in public and "Secret" not in public
    assert parse_sheet(public).get("Likes") is not None
    assert parse_sheet(public).name == "Marta"


def test_a_sheet_of_nothing_but_a_secret_is_empty_to_others() -> None:
    assert public_sheet("**Secret**: all of it") == ""
