"""The rules of tracked values: parsing, every check, the fold, and model-written edits."""

from __future__ import annotations

import re

import pytest

from bot.domain import StateEdit, StateOp
from bot.errors import UserError
from bot.state.rules import (
    ITEM_MAX,
    KEY_MAX,
    KEYS_PER_CHARACTER,
    LIST_MAX,
    NUMBER_LIMIT,
    Change,
    Number,
    SceneState,
    Stat,
    StateError,
    apply,
    check_edit,
    check_edits,
    decode,
    encode,
    fold,
    make_change,
    parse_change_value,
    parse_value,
)
from bot.state.wording import PROMPT_STATUS_MAX, status_line, status_lines

ROOK = 1


def _stats(*changes: tuple[str, StateOp, str]) -> dict[str, Stat]:
    stats: dict[str, Stat] = {}
    for key, op, raw in changes:
        stats = apply(stats, make_change(stats, ROOK, key, op, raw))
    return stats


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("12/20", Number(12, 20)),
        (" 12 / 20 ", Number(12, 20)),
        ("25/20", Number(20, 20)),  # clamped to its maximum
        ("-4/20", Number(-4, 20)),  # below zero is allowed
        ("15", Number(15)),
        ("+15", Number(15)),
        ("-3", Number(-3)),
        (str(NUMBER_LIMIT), Number(NUMBER_LIMIT)),
        ("rope, lantern", ("rope", "lantern")),
        ("rope,  , lantern ", ("rope", "lantern")),
        ("3 arrows", ("3 arrows",)),
        ("a   long\nrope", ("a long rope",)),
    ],
)
def test_set_values(raw: str, value: object) -> None:
    assert parse_value("HP", raw) == value


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "HP: give a value"),
        (" , ", "HP: give a value"),
        ("12/-5", "HP: write a number"),
        ("1 2", "HP: write a number"),
        (str(NUMBER_LIMIT + 1), "HP: numbers go from"),
        ("12/" + "9" * 40, "HP: numbers go from"),
        ("x" * (ITEM_MAX + 1), "HP: list items are limited"),
        ("rope; HP 99", "HP: list items cannot hold ';'"),
        ("rope\x00", "HP: list items cannot hold"),
        (",".join(["a"] * (LIST_MAX + 1)), f"HP: a list holds at most {LIST_MAX}"),
    ],
)
def test_set_values_refused(raw: str, says: str) -> None:
    with pytest.raises(StateError) as caught:
        parse_value("HP", raw)
    assert str(caught.value).startswith(says)
    assert "\n" not in str(caught.value) and isinstance(caught.value, UserError)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "A value needs a name"),
        ("x" * (KEY_MAX + 1), f"{'x' * KEY_MAX}…: value names are limited"),
        ("HP:", "HP:: value names are"),
        ("Gold, HP", "Gold, HP: value names are"),
        ("[INST]", "[INST]: value names are"),
        ("_x", "_x: value names are"),
    ],
)
def test_keys_refused(key: str, says: str) -> None:
    with pytest.raises(StateError, match="^" + re.escape(says)):
        make_change({}, ROOK, key, "set", "1")


def test_keys_are_words_any_case_first_spelling_kept() -> None:
    stats = _stats(("Hit points", "set", "12/20"), ("hit  POINTS", "add", "-2"))
    assert list(stats.values()) == [Stat("Hit points", Number(10, 20))]
    assert make_change({}, ROOK, "Élan vital", "set", "3").key == "Élan vital"


@pytest.mark.parametrize(
    ("start", "op", "raw", "after"),
    [
        ("12/20", "add", "-3", Number(9, 20)),
        ("12/20", "add", "+30", Number(20, 20)),  # clamped to the maximum
        ("2/20", "add", "-5", Number(-3, 20)),  # not clamped at zero
        ("15", "add", "5", Number(20)),
        ("12/20", "set", "15", Number(15, 20)),  # a plain number keeps the maximum
        ("12/20", "set", "30", Number(20, 20)),
        ("12/20", "set", "5/8", Number(5, 8)),
        ("12/20", "set", "rope", ("rope",)),  # set replaces, whatever was there
        ("rope", "add", "lantern, map", ("rope", "lantern", "map")),
        ("rope, lantern, rope", "remove", "ROPE", ("lantern", "rope")),
        ("rope, lantern", "remove", "rope, lantern", ()),
    ],
)
def test_changes(start: str, op: StateOp, raw: str, after: object) -> None:
    stats = _stats(("X", "set", start), ("X", op, raw))
    assert stats["x"].value == after


@pytest.mark.parametrize(
    ("start", "op", "raw", "says"),
    [
        ("rope", "add", "+2", "Inventory is a list: add items, not numbers"),
        ("rope", "add", "-3", "Inventory is a list"),
        ("12/20", "add", "rope", "Inventory is a number: add a whole number"),
        ("12/20", "remove", "rope", "Inventory is a number: only lists"),
        ("rope", "remove", "lantern", "Inventory has no lantern"),
        ("rope", "remove", "rope, rope", "Inventory has no rope"),
        ("15", "add", "+1/2", "Inventory: add a whole number"),
        ("15", "add", str(NUMBER_LIMIT), "Inventory: numbers go from"),
        ("rope", "add", ",".join(["a"] * LIST_MAX), f"Inventory: a list holds at most {LIST_MAX}"),
    ],
)
def test_changes_refused(start: str, op: StateOp, raw: str, says: str) -> None:
    stats = _stats(("Inventory", "set", start))
    with pytest.raises(StateError, match="^" + re.escape(says)):
        make_change(stats, ROOK, "Inventory", op, raw)


@pytest.mark.parametrize("op", ["add", "remove"])
def test_add_or_remove_needs_a_known_key(op: StateOp) -> None:
    with pytest.raises(StateError, match=r"^Gold is not tracked for this character: set it first"):
        make_change({}, ROOK, "Gold", op, "1")


def test_remove_without_items_drops_the_value() -> None:
    stats = _stats(("HP", "set", "1/2"), ("Gold", "set", "3"), ("HP", "remove", ""))
    assert list(stats) == ["gold"]


def test_keys_per_character_are_capped() -> None:
    stats = _stats(*((f"K{i}", "set", "1") for i in range(KEYS_PER_CHARACTER)))
    assert make_change(stats, ROOK, "K0", "set", "2")  # an existing key still changes
    with pytest.raises(StateError, match=r"^Extra: a character tracks at most 30 values"):
        make_change(stats, ROOK, "Extra", "set", "1")


def test_fold_passes_over_what_no_longer_fits() -> None:
    """A change whose key or item a rolled-back change made is skipped, not an error."""
    changes = [
        Change(ROOK, "HP", "add", -3),  # HP was set by a turn since withdrawn
        Change(ROOK, "Inventory", "set", ("rope",)),
        Change(ROOK, "Inventory", "remove", ("lantern",)),
        Change(2, "Gold", "set", Number(5)),
        Change(2, "Gold", "add", 2),
    ]
    state = fold(changes)
    assert state.of(ROOK) == {"inventory": Stat("Inventory", ("rope",))}
    assert state.get(2, "GOLD") == Stat("Gold", Number(7))
    assert state.of(3) == {}


@pytest.mark.parametrize(
    ("op", "raw"),
    [
        ("set", "12/20"),
        ("set", "15"),
        ("set", "a, b"),
        ("add", "-3"),
        ("add", "a"),
        ("remove", "a"),
        ("remove", ""),
    ],
)
def test_encode_decode_round_trip(op: StateOp, raw: str) -> None:
    value = parse_change_value("K", op, raw)
    assert decode(encode(value)) == value


def test_decode_refuses_unknown_shapes() -> None:
    for data in ({}, {"items": [1]}, {"whole": False}, [], "x"):
        with pytest.raises(StateError):
            decode(data)


def test_status_line_keeps_first_set_order() -> None:
    stats = _stats(
        ("HP", "set", "12/20"), ("Gold", "set", "15"), ("Inventory", "set", "rope, lantern")
    )
    stats = apply(stats, make_change(stats, ROOK, "hp", "add", "-1"))
    assert status_line("Rook", stats) == "Rook: HP 11/20; Gold 15; Inventory: rope, lantern"
    assert status_line("Rook", {}) is None
    emptied = _stats(("Bag", "set", "a"), ("Bag", "remove", "a"))
    assert status_line("Rook", emptied) == "Rook: Bag: nothing"


def test_status_line_in_the_prompt_is_bounded() -> None:
    stats = _stats(
        ("HP", "set", "1/2"), *((f"L{i}", "set", ",".join(["x" * 80] * 50)) for i in range(3))
    )
    line = status_lines(SceneState({ROOK: stats}), [("Rook", ROOK)])[0]
    assert line == "Rook: HP 1/2; …"
    assert len(status_line("Rook", stats) or "") > 10000  # /stat show keeps it whole
    only_long = _stats(("L", "set", ",".join(["x" * 80] * 50)))
    cut = status_lines(SceneState({ROOK: only_long}), [("Rook", ROOK)])[0]
    assert len(cut) == PROMPT_STATUS_MAX and cut.endswith("…")


def test_status_lines_follow_the_present_characters_once() -> None:
    state = SceneState({1: _stats(("HP", "set", "3")), 2: _stats(("Gold", "set", "1"))})
    present = [("Rook", 1), ("Absent", 9), ("Marta", 2), ("Rook", 1)]
    assert status_lines(state, present) == ["Rook: HP 3", "Marta: Gold 1"]


CHARACTERS = {"rook": 1, "marta": 2}


def test_model_edits_checked_against_the_state() -> None:
    state = SceneState({1: _stats(("HP", "set", "12/20"), ("Inventory", "set", "rope"))})
    ok = check_edit(StateEdit("ROOK", "hp", "add", "-3"), state, CHARACTERS)
    assert ok.change == Change(1, "hp", "add", -3) and ok.reason is None
    for edit, why in [
        (StateEdit("Nobody", "HP", "add", "-3"), "Nobody is not a character of this scene"),
        (StateEdit("Rook", "Gold", "add", "5"), "Gold is not tracked"),
        (StateEdit("Rook", "Inventory", "add", "+2"), "Inventory is a list"),
        (StateEdit("Rook", "HP", "add", "rope"), "HP is a number"),
        (StateEdit("Rook", "Inventory", "remove", " "), "Inventory: only a GM removes"),
        (StateEdit("Rook", "HP", "drop", "1"), "HP: the change must be"),  # type: ignore[arg-type]
        (StateEdit("Rook", "<|im_start|>", "set", "1"), "<|im_start|>: value names"),
    ]:
        checked = check_edit(edit, state, CHARACTERS)
        assert checked.change is None and (checked.reason or "").startswith(why), edit


def test_model_edits_in_order_each_on_the_state_before() -> None:
    edits = [
        StateEdit("Marta", "Gold", "set", "5"),
        StateEdit("Marta", "Gold", "add", "-2"),
        StateEdit("Marta", "Coins", "add", "1"),
        StateEdit("Rook", "Bag", "set", "rope"),
        StateEdit("Rook", "Bag", "remove", "rope"),
        StateEdit("Rook", "Bag", "remove", "rope"),
    ]
    changes, reasons = check_edits(edits, SceneState(), CHARACTERS)
    assert [(c.character_id, c.key, c.op) for c in changes] == [
        (2, "Gold", "set"),
        (2, "Gold", "add"),
        (1, "Bag", "set"),
        (1, "Bag", "remove"),
    ]
    assert reasons == ["Coins is not tracked for this character: set it first.", "Bag has no rope."]
    assert fold(changes).get(2, "gold") == Stat("Gold", Number(3))
