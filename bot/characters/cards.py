"""Character Card V1/V2/V3 import (JSON or PNG) and V2 export."""

from __future__ import annotations

import base64
import binascii
import copy
import io
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image, PngImagePlugin

from bot.characters.sheet import (
    SHEET_MAX_CHARS,
    STANDARD_FIELDS,
    Sheet,
    SheetError,
    SheetField,
    parse_sheet,
    render_sheet,
)

CARD_MAX_BYTES = 8 * 1024 * 1024
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
_PLACEHOLDER_SIZE = (400, 600)
_PLACEHOLDER_COLOR = (47, 49, 54)


class CardError(ValueError):
    """A card that cannot be imported; the message is shown to the user."""


@dataclass(frozen=True)
class ImportedCard:
    """A character card mapped onto a sheet, with the original JSON kept."""

    name: str
    sheet: Sheet
    scenario: str | None
    greeting: str | None
    spec: str
    raw: dict[str, Any]


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


def _png_card_json(data: bytes) -> bytes:
    """The card JSON bytes from a PNG's `ccv3` or `chara` text chunk."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            chunks = dict(getattr(img, "text", None) or img.info)
    except Exception:  # Pillow raises many types for broken files
        raise CardError("That PNG is corrupt or truncated.") from None
    by_key = {str(k).lower(): v for k, v in chunks.items() if isinstance(v, str)}
    payloads = [by_key[k] for k in ("ccv3", "chara") if k in by_key]
    if not payloads:
        raise CardError("That PNG has no character card in it.")
    first_error: CardError | None = None
    # A broken ccv3 chunk should not hide a usable chara chunk next to it.
    for payload in payloads:
        try:
            raw = _decode_payload(payload)
            _parse_json(raw)
            return raw
        except CardError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _parse_json(raw: bytes) -> dict[str, Any]:
    """Decode UTF-8 JSON that must be an object."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CardError("The card data is not valid UTF-8 text.") from None
    try:
        card = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise CardError("The card data is not valid JSON.") from None
    if not isinstance(card, dict):
        raise CardError("The card JSON must be an object.")
    return card


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


def load_card(data: bytes, filename: str | None = None) -> ImportedCard:
    """Import a character card from PNG or JSON bytes."""
    if len(data) > CARD_MAX_BYTES:
        raise CardError(f"That card file is too big (the limit is {CARD_MAX_BYTES // 2**20} MB).")
    name_hint = (filename or "").lower()
    if data.startswith(_PNG_MAGIC):
        raw = _png_card_json(data)
    elif data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")) or name_hint.endswith(
        ".json"
    ):
        raw = data
    elif name_hint.endswith(".png"):
        raise CardError("That file is not a valid PNG.")
    else:
        raise CardError("That file is neither a PNG nor a JSON character card.")
    card = _parse_json(raw)
    spec, fields = _card_fields(card)
    name = _text(fields, "name")
    if not name:
        raise CardError("That card has no character name.")
    return ImportedCard(
        name=name,
        sheet=_sheet_from(name, fields),
        scenario=_text(fields, "scenario") or None,
        greeting=_text(fields, "first_mes") or None,
        spec=spec,
        raw=card,
    )


def export_card_v2(
    name: str,
    sheet_text: str,
    greeting: str | None,
    scenario: str | None,
    original: dict[str, Any] | None,
) -> dict[str, Any]:
    """A V2 card for this character, keeping everything else from the original card."""
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
    return card


def card_to_png(card: dict[str, Any], image: bytes | None = None) -> bytes:
    """A PNG carrying the card as a base64 `chara` text chunk."""
    if image is None:
        img = Image.new("RGB", _PLACEHOLDER_SIZE, _PLACEHOLDER_COLOR)
    else:
        try:
            img = Image.open(io.BytesIO(image))
            img.load()
        except Exception:  # Pillow raises many types for broken files
            raise CardError("That image could not be read.") from None
        if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            img = img.convert("RGBA")
    payload = json.dumps(card, ensure_ascii=False).encode("utf-8")
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(payload).decode("ascii"))
    out = io.BytesIO()
    img.save(out, format="PNG", pnginfo=info)
    return out.getvalue()
