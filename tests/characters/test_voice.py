"""An NPC's voice: its rules, its JSON column, and its place in a character card."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.characters.cards import CardError, export_card_v2, load_card
from bot.characters.voice import (
    MAX_TOKENS_MAX,
    VoiceError,
    VoiceRules,
    describe_voice,
    voice_from_json,
    voice_to_json,
)
from bot.characters.voices import voice_rules
from bot.domain import Voice
from bot.settings import load_settings

RULES = VoiceRules(backends=("narrator", "big-gpu"))
FULL = Voice(
    temperature=1.15,
    min_p=0.05,
    max_tokens=180,
    length="short",
    talkativeness=30,
    backend="narrator",
)


def test_a_voice_within_its_ranges_is_kept_whole() -> None:
    values = {f: getattr(FULL, f) for f in vars(FULL)}
    assert RULES.parse(values) == FULL
    assert RULES.checked(FULL) == FULL
    assert RULES.parse({}) == Voice()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"min_p": 1.5}, "min_p"),
        ({"min_p": True}, "min_p"),
        ({"temperature": float("inf")}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": MAX_TOKENS_MAX + 1}, "max_tokens"),
        ({"max_tokens": 12.5}, "max_tokens"),
        ({"length": "epic"}, "length"),
        ({"talkativeness": 101}, "talkativeness"),
        ({"talkativeness": -1}, "talkativeness"),
        ({"talkativeness": True}, "talkativeness"),
        ({"backend": "elsewhere"}, "backend"),
        ({"backend": "Not A Name"}, "backend"),
        ({"sampler": 1}, "sampler"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(VoiceError) as caught:
        RULES.parse(values)
    message = str(caught.value)
    assert message.startswith(f"{field} ") or message.startswith(f"backend {values[field]!r}")
    assert "\n" not in message


def test_an_unknown_backend_names_the_configured_ones() -> None:
    with pytest.raises(VoiceError, match=r"'elsewhere' is not .*big-gpu, narrator"):
        RULES.parse({"backend": "elsewhere"})
    with pytest.raises(VoiceError, match="none are configured"):
        VoiceRules(backends=()).parse({"backend": "narrator"})


def test_the_token_cap_follows_max_new_tokens_above_2048() -> None:
    assert voice_rules(load_settings()).max_tokens == MAX_TOKENS_MAX
    raised = voice_rules(load_settings(max_new_tokens=4000))
    assert raised.max_tokens == 4000
    assert raised.parse({"max_tokens": 4000}).max_tokens == 4000
    with pytest.raises(VoiceError, match="max_tokens"):
        raised.parse({"max_tokens": 4001})


def test_the_column_holds_only_the_fields_set() -> None:
    assert voice_to_json(Voice()) is None
    assert voice_to_json(Voice(talkativeness=0)) == {"talkativeness": 0}
    stored = voice_to_json(FULL)
    assert stored is not None and voice_from_json(json.loads(json.dumps(stored))) == FULL


def test_a_stored_voice_is_read_back_without_failing() -> None:
    # Hand-edited or from an older version: what no longer passes is left out, never raised.
    stored = {"temperature": 9, "min_p": 0.2, "backend": "gone-now", "length": "??", "x": 1}
    assert voice_from_json(stored) == Voice(min_p=0.2, backend="gone-now")
    assert voice_from_json(None) == Voice()
    assert voice_from_json(["not", "a", "voice"]) == Voice()


def test_kept_leaves_out_what_this_server_does_not_take() -> None:
    kept, dropped = RULES.kept(Voice(temperature=0.7, backend="elsewhere", max_tokens=5000))
    assert kept == Voice(temperature=0.7)
    assert len(dropped) == 2 and any("max_tokens" in d for d in dropped)


def test_describe_names_each_field_set() -> None:
    assert describe_voice(Voice()) == "the scene's settings"
    text = describe_voice(FULL, {"backend": "down"})
    assert text == (
        "temperature 1.15, min_p 0.05, max_tokens 180, length short, talkativeness 30, "
        "backend narrator (down)"
    )


# -- cards ----------------------------------------------------------------------------------------


def st_card(**extensions: Any) -> dict[str, Any]:
    """A V2 card as SillyTavern exports it: talkativeness is a string, mirrored at the top."""
    data = {
        "name": "Keri",
        "description": "A quiet swordswoman.",
        "first_mes": "Keri looks up.",
        "extensions": {"talkativeness": "0.5", "fav": False, "depth_prompt": {"depth": 4}},
    }
    data["extensions"].update(extensions)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "talkativeness": "0.5", "data": data}


def imported(card: dict[str, Any]) -> Voice:
    return load_card(json.dumps(card).encode(), "keri.json").voice


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", 50), ("0.25", 25), (" 1 ", 100), (0, 0), (0.29, 29), (1, 100), ("", None)],
)
def test_sillytaverns_talkativeness_is_read_as_a_percentage(value: Any, expected: Any) -> None:
    assert imported(st_card(talkativeness=value)).talkativeness == expected


def test_a_v1_card_keeps_talkativeness_at_the_top() -> None:
    card = {"name": "Old", "description": "Old.", "talkativeness": "0.8"}
    assert imported(card).talkativeness == 80


@pytest.mark.parametrize("value", ["loud", "1.5", -0.1, "nan", True])
def test_a_bad_talkativeness_refuses_the_card_naming_the_field(value: Any) -> None:
    with pytest.raises(CardError, match="talkativeness must be a number from 0 to 1") as caught:
        imported(st_card(talkativeness=value))
    assert "\n" not in str(caught.value)


def test_a_bad_tavernkeep_voice_refuses_the_card_naming_the_field() -> None:
    with pytest.raises(CardError, match="Tavernkeep voice: temperature"):
        imported(st_card(tavernkeep={"voice": {"temperature": 7}}))


def test_a_card_voice_survives_export_and_import() -> None:
    card = st_card(talkativeness="0.3", tavernkeep={"voice": {"temperature": 1.1, "x": 1}})
    first = imported(card)
    assert first == Voice(temperature=1.1, talkativeness=30)
    assert imported(st_card()) == Voice(talkativeness=50)

    exported = export_card_v2("Keri", "**Character Name**: Keri", "Hi.", None, card, FULL)
    extensions = exported["data"]["extensions"]
    # SillyTavern's field, as SillyTavern writes it; ours beside it; every other kept.
    assert extensions["talkativeness"] == "0.3" and exported["talkativeness"] == "0.3"
    assert extensions["tavernkeep"]["voice"] == {
        "temperature": 1.15,
        "min_p": 0.05,
        "max_tokens": 180,
        "length": "short",
        "backend": "narrator",
    }
    assert extensions["depth_prompt"] == {"depth": 4} and extensions["fav"] is False
    assert imported(exported) == FULL
    assert card["data"]["extensions"]["talkativeness"] == "0.3"  # the original is untouched


def test_an_export_of_a_reset_voice_carries_the_default() -> None:
    card = st_card(talkativeness="0.1", tavernkeep={"voice": {"min_p": 0.3}, "other": 1})
    exported = export_card_v2("Keri", "**Character Name**: Keri", None, None, card, Voice())
    extensions = exported["data"]["extensions"]
    assert extensions["talkativeness"] == "0.5"
    assert extensions["tavernkeep"] == {"other": 1}
    assert imported(exported) == Voice(talkativeness=50)
    plain = export_card_v2("Keri", "**Character Name**: Keri", None, None, None, Voice())
    assert plain["data"]["extensions"] == {"talkativeness": "0.5"}
