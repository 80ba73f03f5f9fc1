"""Character Card V1/V2/V3 import (JSON or PNG) and V2 export."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from dataclasses import dataclass, field
from typing import Any

from bot.characters.card_json import check_card_fields, parse_card_json
from bot.characters.card_voice import card_with_voice, voice_from_card
from bot.characters.errors import CardError
from bot.characters.limits import CARD_MAX_BYTES, DEFAULT_CARD_LIMITS, CardLimits
from bot.characters.png_chunks import (
    CARD_KEYWORDS,
    card_chunks,
    chunk_text,
    placeholder_png,
    with_text_chunk,
)
from bot.characters.sheet import (
    SHEET_MAX_CHARS,
    STANDARD_FIELDS,
    Sheet,
    SheetError,
    SheetField,
    parse_sheet,
    render_sheet,
)
from bot.domain import Voice

__all__ = [  # CARD_MAX_BYTES and CardError are re-exported for callers that import them here
    "CARD_MAX_BYTES",
    "CardError",
    "ImportedCard",
    "card_to_png",
    "export_card_v2",
    "load_card",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_V2 = "chara_card_v2"
_V3 = "chara_card_v3"
_V2_DEFAULTS: dict[str, Any] = {
    "name": "",
    "description": "",
    "personality": "",
    "scenario": "",
    "first_mes": "",
    "mes_example": "",
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
}


@dataclass(frozen=True)
class ImportedCard:
    """A character card mapped onto a sheet, with the original JSON kept."""

    name: str
    sheet: Sheet
    scenario: str | None
    greeting: str | None
    spec: str
    raw: dict[str, Any]
    # Its talkativeness, and the rest of our voice under `extensions.tavernkeep`.
    voice: Voice = field(default_factory=Voice)


def _text(data: dict[str, Any], key: str) -> str:
    """A string field of the card, stripped; anything else counts as empty."""
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _decode_payload(payload: str) -> bytes:
    """Base64-decode a PNG text chunk, tolerating whitespace and missing padding."""
    compact = "".join(payload.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CardError("The card data in that PNG is not valid base64.") from None


def _png_card(data: bytes, limits: CardLimits) -> dict[str, Any]:
    """The card from a PNG's `ccv3` or `chara` text chunk, read without decoding pixels."""
    chunks = card_chunks(data)
    payloads = [chunks[key] for key in CARD_KEYWORDS if key in chunks]
    if not payloads:
        raise CardError("That PNG has no character card in it.")
    first_error: CardError | None = None
    # A broken ccv3 chunk should not hide a usable chara chunk next to it.
    for chunk in payloads:
        try:
            raw = _decode_payload(chunk_text(chunk, limits.json_max_bytes))
            return parse_card_json(raw, limits)
        except CardError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _card_fields(card: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(spec, data fields) for a V1, V2 or V3 card."""
    spec = card.get("spec")
    if spec is None or spec == "":
        return "v1", card
    if spec not in (_V2, _V3):
        raise CardError(f"Unsupported card spec {str(spec)[:40]!r}; use a V1, V2 or V3 card.")
    data = card.get("data")
    if not isinstance(data, dict):
        raise CardError("That card has no 'data' section.")
    return spec, data


def _sheet_from(name: str, data: dict[str, Any]) -> Sheet:
    """Map description/personality onto a sheet named after the card."""
    description = _text(data, "description")
    try:
        sheet = parse_sheet(description)
    except SheetError:  # empty or too long; the length check below reports the latter
        sheet = Sheet([])
    if sum(f.label in STANDARD_FIELDS for f in sheet.fields) < 2:
        sheet = Sheet([SheetField("Biography", description)] if description else [])
    sheet.set("Character Name", name)
    sheet.set("Personality", _text(data, "personality"))
    length = len(render_sheet(sheet))
    if length > SHEET_MAX_CHARS:
        raise CardError(
            f"That card is too long for a sheet ({length:,} characters; "
            f"the limit is {SHEET_MAX_CHARS:,})."
        )
    return sheet


def _card_from(data: bytes, filename: str | None, limits: CardLimits) -> dict[str, Any]:
    """The card JSON object of a PNG or JSON file."""
    name_hint = (filename or "").lower()
    if data.startswith(_PNG_MAGIC):
        return _png_card(data, limits)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")) or name_hint.endswith(".json"):
        return parse_card_json(data, limits)
    if name_hint.endswith(".png"):
        raise CardError("That file is not a valid PNG.")
    raise CardError("That file is neither a PNG nor a JSON character card.")


def load_card(
    data: bytes, filename: str | None = None, limits: CardLimits = DEFAULT_CARD_LIMITS
) -> ImportedCard:
    """Import a character card from PNG or JSON bytes (CPU-bound: run it off the event loop)."""
    if len(data) > CARD_MAX_BYTES:
        raise CardError(f"That card file is too big (the limit is {CARD_MAX_BYTES // 2**20} MB).")
    card = _card_from(data, filename, limits)
    spec, fields = _card_fields(card)
    name = _text(fields, "name")
    if not name:
        raise CardError("That card has no character name.")
    check_card_fields(fields, limits)
    return ImportedCard(
        name=name,
        sheet=_sheet_from(name, fields),
        scenario=_text(fields, "scenario") or None,
        greeting=_text(fields, "first_mes") or None,
        spec=spec,
        raw=card,
        voice=voice_from_card(card, fields),
    )


def export_card_v2(
    name: str,
    sheet_text: str,
    greeting: str | None,
    scenario: str | None,
    original: dict[str, Any] | None,
    voice: Voice | None = None,
) -> dict[str, Any]:
    """A V2 card for this character, keeping everything else from the original card.

    With `voice`, the card carries it (talkativeness where SillyTavern reads it).
    """
    if original and original.get("spec") == _V2 and isinstance(original.get("data"), dict):
        card = copy.deepcopy(original)
    elif original and isinstance(original.get("data"), dict):
        card = {"spec": _V2, "spec_version": "2.0", "data": copy.deepcopy(original["data"])}
    else:
        flat = {k: v for k, v in (original or {}).items() if k not in ("spec", "spec_version")}
        card = {"spec": _V2, "spec_version": "2.0", "data": copy.deepcopy(flat)}
    current = {
        "name": name,
        "description": sheet_text,
        "first_mes": greeting or "",
        "scenario": scenario or "",
    }
    data = card["data"]
    data.update(current)
    for key, default in _V2_DEFAULTS.items():
        if key not in data:
            data[key] = copy.deepcopy(default)
    # V2 cards often mirror the V1 fields at the top level; keep those mirrors in step.
    for key, value in current.items():
        if key in card:
            card[key] = value
    return card if voice is None else card_with_voice(card, voice)


def card_to_png(card: dict[str, Any], image: bytes | None = None) -> bytes:
    """A PNG carrying the card as a base64 `chara` text chunk; `image` must be a PNG."""
    payload = json.dumps(card, ensure_ascii=False).encode("utf-8")
    text = base64.b64encode(payload).decode("ascii")
    return with_text_chunk(placeholder_png() if image is None else image, "chara", text)
