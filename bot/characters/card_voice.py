"""A voice in a character card: SillyTavern's talkativeness, and ours under `tavernkeep`."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from bot.characters.errors import CardError
from bot.characters.voice import STORED, VOICE_FIELDS, VoiceError, voice_to_json
from bot.domain import Voice

EXTENSION = "tavernkeep"  # data.extensions.tavernkeep.voice: the fields SillyTavern has not


def _talkativeness(value: object) -> int | None:
    """SillyTavern's 0.0-1.0 (a string in its cards, "0.5" by default) as our 0-100."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    if number is None or not 0.0 <= number <= 1.0:  # NaN fails it too
        raise CardError(
            f"That card's talkativeness must be a number from 0 to 1 (not {str(value)[:20]!r})."
        )
    return round(number * 100)


def voice_from_card(card: dict[str, Any], fields: dict[str, Any]) -> Voice:
    """The voice a card carries (`fields`: its `data`, or the card itself for V1)."""
    extensions = fields.get("extensions")
    extensions = extensions if isinstance(extensions, dict) else {}
    # SillyTavern's own V1 JSON keeps it at the top, beside its other fields.
    talk = extensions.get("talkativeness", card.get("talkativeness"))
    ours = extensions.get(EXTENSION)
    stored = ours.get("voice") if isinstance(ours, dict) else None
    voice = Voice()
    if isinstance(stored, dict):
        # SillyTavern's field holds talkativeness; keys a later version adds are left alone.
        rest = {k: v for k, v in stored.items() if k in VOICE_FIELDS and k != "talkativeness"}
        try:
            # Any token cap and backend name: the service keeps what this server allows.
            voice = STORED.parse(rest)
        except VoiceError as exc:
            raise CardError(f"That card's Tavernkeep voice: {exc}") from None
    return replace(voice, talkativeness=_talkativeness(talk))


def card_with_voice(card: dict[str, Any], voice: Voice) -> dict[str, Any]:
    """`card` (a V2 card) carrying `voice`; every other extension kept."""
    card = copy.deepcopy(card)
    data = card["data"]
    extensions = data.get("extensions")
    extensions = extensions if isinstance(extensions, dict) else {}
    # SillyTavern writes the field on every card; ours is always the NPC's current one.
    extensions["talkativeness"] = f"{voice.talks / 100:g}"
    if "talkativeness" in card:  # the V1 mirror SillyTavern keeps at the top
        card["talkativeness"] = extensions["talkativeness"]
    ours = extensions.get(EXTENSION)
    ours = dict(ours) if isinstance(ours, dict) else {}
    rest = voice_to_json(replace(voice, talkativeness=None))
    if rest:
        ours["voice"] = rest
    else:
        ours.pop("voice", None)
    if ours:
        extensions[EXTENSION] = ours
    else:
        extensions.pop(EXTENSION, None)
    data["extensions"] = extensions
    return card
