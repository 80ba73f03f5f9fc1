"""An NPC's own voice: its rules, its JSON column, its card extensions and its wording."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from bot.domain import LENGTHS, Voice
from bot.engine.named import BACKEND_NAME, DEFAULT_BACKEND
from bot.errors import UserError

__all__ = [
    "DEFAULT_BACKEND",
    "VOICE_FIELDS",
    "Voice",
    "VoiceError",
    "VoiceRules",
    "describe_voice",
    "voice_from_json",
    "voice_to_json",
]

VOICE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Voice))
TEMPERATURE_MAX = 2.0
MAX_TOKENS_MAX = 2048  # an NPC's own turn cap; MAX_NEW_TOKENS raises it where it is higher
MAX_TOKENS_CEILING = 8192  # MAX_NEW_TOKENS' own, so no cap is ever above it
TALKATIVENESS_MAX = 100


class VoiceError(UserError, ValueError):
    """A voice setting out of its range; the message names the field."""


def _number(name: str, value: object, low: float, high: float) -> float:
    # A bool is an int to Python, never a sampler value to a person.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VoiceError(f"{name} must be a number from {low:g} to {high:g}.")
    if not low <= value <= high:  # NaN and the infinities fail it too
        raise VoiceError(f"{name} must be from {low:g} to {high:g} (not {value:g}).")
    return float(value)


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise VoiceError(f"{name} must be a whole number from {low} to {high}.")
    if not low <= value <= high:
        raise VoiceError(f"{name} must be from {low} to {high} (not {value}).")
    return value


@dataclass(frozen=True)
class VoiceRules:
    """What a voice may hold here: the ranges, and the named backends the settings configure.

    `backends` None takes any well-formed name (a scene file read before the settings are
    known); a tuple takes only those names.
    """

    backends: Collection[str] | None = None
    max_tokens: int = MAX_TOKENS_MAX

    def checked(self, voice: Voice) -> Voice:
        """`voice`, each field in its range; a `VoiceError` naming the first that is not."""
        return self.parse({f: getattr(voice, f) for f in VOICE_FIELDS})

    def parse(self, values: Mapping[str, object]) -> Voice:
        """A voice from untyped values (a scene file's table, a card's extension)."""
        stray = next((key for key in values if key not in VOICE_FIELDS), None)
        if stray is not None:
            raise VoiceError(f"{stray} is not a voice setting ({', '.join(VOICE_FIELDS)}).")
        found: dict[str, Any] = {}
        for key, value in values.items():
            if value is not None:
                found[key] = self.value_of(key, value)
        return Voice(**found)

    def from_table(self, table: Mapping[str, Any], base: Voice | None) -> Voice | None:
        """The voice fields of a scene file's `[[npcs]]` entry over `base` (its card's)."""
        given = {key: table[key] for key in VOICE_FIELDS if key in table}
        if not given and base is None:
            return None
        return with_changes(self.checked(base or Voice()), self.parse(given))

    def kept(self, voice: Voice | None) -> tuple[Voice, list[str]]:
        """What of `voice` (a card's) passes here, and why each field left out was."""
        kept: dict[str, Any] = {}
        dropped: list[str] = []
        for key in VOICE_FIELDS:
            value = None if voice is None else getattr(voice, key)
            if value is None:
                continue
            try:
                kept[key] = self.value_of(key, value)
            except VoiceError as exc:
                dropped.append(str(exc))
        return Voice(**kept), dropped

    def value_of(self, key: str, value: object) -> object:
        """One field's value, checked (`key` one of `VOICE_FIELDS`)."""
        if key == "temperature":
            return _number(key, value, 0.0, TEMPERATURE_MAX)
        if key == "min_p":
            return _number(key, value, 0.0, 1.0)
        if key == "max_tokens":
            return _whole(key, value, 1, self.max_tokens)
        if key == "talkativeness":
            return _whole(key, value, 0, TALKATIVENESS_MAX)
        if key == "length":
            if value not in LENGTHS:
                raise VoiceError(f"length must be one of: {', '.join(LENGTHS)}.")
            return value
        return self._backend(value)

    def _backend(self, value: object) -> str:
        if not isinstance(value, str) or not BACKEND_NAME.fullmatch(value):
            raise VoiceError("backend must be the name of a backend in the BACKENDS setting.")
        if self.backends is not None and value not in self.backends:
            known = ", ".join(sorted(self.backends)) or "none are configured (BACKENDS)"
            raise VoiceError(f"backend {value!r} is not a named backend here ({known}).")
        return value


# A stored voice is read back with any backend name (the router falls back for one no longer
# configured) and any token cap (MAX_NEW_TOKENS may have been lowered since).
STORED = VoiceRules(max_tokens=MAX_TOKENS_CEILING)


def voice_to_json(voice: Voice) -> dict[str, Any] | None:
    """The `characters.voice` column: the fields set, or None when none is."""
    found = {key: getattr(voice, key) for key in VOICE_FIELDS if getattr(voice, key) is not None}
    return found or None


def voice_from_json(data: object, rules: VoiceRules | None = None) -> Voice:
    """A stored voice; a field that no longer passes (hand-edited, an older cap) is left out.

    What was stored was checked when it was set; reading it back never fails a round.
    """
    if not isinstance(data, Mapping):
        return Voice()
    rules = rules or STORED
    kept: dict[str, Any] = {}
    for key in VOICE_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        try:
            kept[key] = rules.value_of(key, value)
        except VoiceError:
            continue
    return Voice(**kept)


def with_changes(voice: Voice, changes: Voice) -> Voice:
    """`voice` with every field `changes` sets."""
    return replace(voice, **{k: v for k, v in vars(changes).items() if v is not None})


def cleared(voice: Voice, names: Collection[str]) -> Voice:
    """`voice` with the named fields back to unset."""
    return replace(voice, **dict.fromkeys(names))


def is_empty(voice: Voice) -> bool:
    return voice_to_json(voice) is None


def describe_voice(voice: Voice, notes: Mapping[str, str] | None = None) -> str:
    """The fields a voice sets, one phrase each; `notes` adds a word after a field's value."""
    parts = []
    for key in VOICE_FIELDS:
        value = getattr(voice, key)
        if value is None:
            continue
        text = f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
        note = (notes or {}).get(key)
        parts.append(f"{text} ({note})" if note else text)
    return ", ".join(parts) if parts else "the scene's settings"
