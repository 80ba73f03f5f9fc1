"""`SceneMarkers`: an NPC's marker text resolved against a scene's state (pure, no database)."""

from __future__ import annotations

import random

import pytest

from bot.dice import roll_dice
from bot.dice.markers import SceneMarkers
from bot.domain import DiceRoll, StateEdit
from bot.state.rules import Number, SceneState, Stat
from tests.dice.rngs import Faces

ROOK, MARTA, MARTA_VELL = 1, 2, 3
CHARACTERS = {
    "rook": (ROOK, "Rook"),
    "marta": (MARTA, "Marta"),
    "marta vell": (MARTA_VELL, "Marta Vell"),
}


def _state() -> SceneState:
    return SceneState(
        {
            ROOK: {
                "hp": Stat("HP", Number(12, 20)),
                "inventory": Stat("Inventory", ("rope", "lantern")),
            },
            MARTA: {"gold": Stat("Gold", Number(15))},
            MARTA_VELL: {"gold": Stat("Gold", Number(40))},
        }
    )


def _markers(*faces: int) -> SceneMarkers:
    return SceneMarkers(_state(), CHARACTERS, Faces(faces))


# -- rolls ---------------------------------------------------------------------------------------


def test_a_roll_with_a_reason() -> None:
    outcome = _markers(12).resolve("roll 1d20+3 Stealth")
    assert outcome is not None
    assert outcome.text == "[roll 1d20+3 Stealth: 15 (12 + 3)]"
    assert outcome.roll == DiceRoll("1d20+3", 15, "12 + 3", "Stealth") and outcome.edit is None


def test_a_roll_without_a_reason_and_with_spaces_in_the_expression() -> None:
    markers = _markers(4, 9, 2)
    plain = markers.resolve("roll 1d20")
    assert plain is not None and plain.text == "[roll 1d20: 4]"
    assert plain.roll == DiceRoll("1d20", 4, "4", None)
    spaced = markers.resolve("  ROLL 1d20 + 3   Sneaking past  ")
    assert spaced is not None and spaced.text == "[roll 1d20+3 Sneaking past: 12 (9 + 3)]"
    assert spaced.roll == DiceRoll("1d20+3", 12, "9 + 3", "Sneaking past")
    bare_spaced = markers.resolve("roll 1d20 + 3")
    assert bare_spaced is not None and bare_spaced.roll == DiceRoll("1d20+3", 5, "2 + 3", None)


@pytest.mark.parametrize("marker", ["roll", "roll lots of dice", "roll 1d0", "roll Stealth 1d20"])
def test_a_roll_that_is_not_dice_is_dropped(marker: str) -> None:
    assert _markers().resolve(marker) is None  # Faces() has no face: nothing was rolled


def test_a_seeded_rng_gives_the_roll_it_always_gives() -> None:
    outcome = SceneMarkers(_state(), CHARACTERS, random.Random(7)).resolve("roll 2d6+1 Luck")
    expected = roll_dice("2d6+1", random.Random(7), "Luck")
    assert outcome is not None and outcome.roll == expected
    assert outcome.text == f"[roll 2d6+1 Luck: {expected.total} ({expected.detail})]"


# -- state changes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "text", "edit"),
    [
        ("Rook HP -3", "[Rook HP -3: 9/20]", StateEdit("Rook", "HP", "add", "-3")),
        ("Rook HP - 3", "[Rook HP -3: 9/20]", StateEdit("Rook", "HP", "add", "-3")),
        ("Rook HP +5", "[Rook HP +5: 17/20]", StateEdit("Rook", "HP", "add", "5")),
        ("rook hp = 12/20", "[Rook hp = 12/20: 12/20]", StateEdit("Rook", "hp", "set", "12/20")),
        ("Rook HP = 7", "[Rook HP = 7: 7/20]", StateEdit("Rook", "HP", "set", "7")),
        (
            "Rook Inventory +torch",
            "[Rook Inventory +torch: rope, lantern, torch]",
            StateEdit("Rook", "Inventory", "add", "torch"),
        ),
        (
            "Rook Inventory -rope",
            "[Rook Inventory -rope: lantern]",
            StateEdit("Rook", "Inventory", "remove", "rope"),
        ),
        ("Marta Gold +10", "[Marta Gold +10: 25]", StateEdit("Marta", "Gold", "add", "10")),
    ],
)
def test_a_state_marker_is_checked_and_applied(marker: str, text: str, edit: StateEdit) -> None:
    outcome = _markers().resolve(marker)
    assert outcome is not None and (outcome.text, outcome.edit, outcome.roll) == (text, edit, None)


def test_the_longest_name_that_fits_is_the_character() -> None:
    markers = _markers()
    vell = markers.resolve("Marta Vell Gold -5")
    assert vell is not None and vell.text == "[Marta Vell Gold -5: 35]"
    assert vell.edit == StateEdit("Marta Vell", "Gold", "add", "-5")
    assert markers.state.get(MARTA_VELL, "gold") == Stat("Gold", Number(35))
    assert markers.state.get(MARTA, "gold") == Stat("Gold", Number(15))  # Marta is untouched


def test_a_name_whose_casefold_is_longer_still_fits() -> None:
    # `ß` casefolds to `ss`: the name is matched as words, never cut at a casefolded length.
    characters = {"Großvater Weiß".casefold(): (9, "Großvater Weiß")}
    state = SceneState({9: {"hp": Stat("HP", Number(12, 20))}})
    outcome = SceneMarkers(state, characters).resolve("Großvater Weiß HP -3")
    assert outcome is not None and outcome.text == "[Großvater Weiß HP -3: 9/20]"
    assert outcome.edit == StateEdit("Großvater Weiß", "HP", "add", "-3")


@pytest.mark.parametrize(
    "marker",
    [
        "Nobody HP -1",  # not a character of the scene
        "Rookie HP -1",  # a name is a whole word
        "Rook Inventory -3",  # arithmetic on a list
        "Rook Inventory +3",
        "Rook HP +rope",  # items on a number
        "Rook HP -rope",
        "Rook Gold +3",  # not tracked yet
        "Rook Inventory -sword",  # not in the list
        "Rook Inventory -٣",  # a digit, but not an ASCII one: an item to take out, not a number
        "Rook Inventory -",  # no value
        "Rook HP",  # no change
        "Rook = 3",  # no key
    ],
)
def test_a_change_that_cannot_be_made_is_dropped(marker: str) -> None:
    markers = _markers()
    assert markers.resolve(marker) is None
    assert markers.state == _state()  # and the turn's state is as it was


def test_edits_to_one_value_in_one_turn_apply_in_order_on_the_resolvers_copy() -> None:
    given = _state()
    markers = SceneMarkers(given, CHARACTERS, Faces([]))
    outcomes = [
        markers.resolve(m)
        for m in ("Rook HP -3", "Rook HP -3", "Rook Inventory -rope", "Rook Inventory -rope")
    ]
    assert [o.text if o else None for o in outcomes] == [
        "[Rook HP -3: 9/20]",
        "[Rook HP -3: 6/20]",
        "[Rook Inventory -rope: lantern]",
        None,  # the rope is already gone
    ]
    assert markers.state.get(ROOK, "HP") == Stat("HP", Number(6, 20))
    assert given == _state()  # the state it was given is never changed


def test_a_roll_and_a_change_in_one_turn() -> None:
    markers = _markers(3)
    roll = markers.resolve("roll 1d20 Dodge")
    hit = markers.resolve("Rook HP -4")
    assert roll is not None and roll.text == "[roll 1d20 Dodge: 3]"
    assert hit is not None and hit.text == "[Rook HP -4: 8/20]"
