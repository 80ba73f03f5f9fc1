"""Tests for character card import (V1/V2/V3, JSON and PNG) and V2 export."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bot.characters.cards import (
    CARD_MAX_BYTES,
    CardError,
    card_to_png,
    export_card_v2,
    load_card,
)
from bot.characters.sheet import render_sheet

SHEET_DESC = "**Age**: 21\n**Race**: Vampire\n**Good Attributes**:\n- Kind\n- Observant"


def v2_card(name: str = "Keri Wolf", **data: Any) -> dict[str, Any]:
    """A V2 card with a few non-mapped fields that must survive export."""
    fields = {
        "name": name,
        "description": "A quiet swordswoman.",
        "personality": "Easy-going",
        "scenario": "The college gates at dusk.",
        "first_mes": "Keri looks up from her carving.",
        "mes_example": "",
        "alternate_greetings": ["Hi."],
        "character_book": {"entries": [{"keys": ["Djarkel"], "content": "A city."}]},
        "extensions": {"talkativeness": "0.5", "depth_prompt": {"depth": 4}},
    }
    fields.update(data)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields}


def v3_card(name: str = "Satori", **data: Any) -> dict[str, Any]:
    """A V3 card."""
    fields = {
        "name": name,
        "description": "Keri's best friend.",
        "personality": "",
        "scenario": "",
        "first_mes": "",
        "nickname": "Sat",
        "group_only_greetings": ["Hey all."],
        "extensions": {"x": 1},
    }
    fields.update(data)
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": fields}


def b64(card: Any) -> str:
    """Base64 of a card's UTF-8 JSON, as stored in PNG chunks."""
    return base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii")


def make_png(**chunks: str) -> bytes:
    """A real PNG with the given tEXt chunks."""
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", (8, 12), (200, 10, 10)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_png_v2_only() -> None:
    card = load_card(make_png(chara=b64(v2_card())), "keri.png")
    assert card.spec == "chara_card_v2"
    assert card.name == "Keri Wolf"
    assert card.raw == v2_card()


def test_png_v3_only() -> None:
    card = load_card(make_png(ccv3=b64(v3_card())))
    assert card.spec == "chara_card_v3"
    assert card.name == "Satori"
    assert card.greeting is None and card.scenario is None


def test_png_ccv3_wins_over_chara() -> None:
    card = load_card(make_png(chara=b64(v2_card("Old Name")), ccv3=b64(v3_card("New Name"))))
    assert card.name == "New Name"
    assert card.spec == "chara_card_v3"


def test_png_broken_ccv3_falls_back_to_chara() -> None:
    card = load_card(make_png(ccv3="@@not base64@@", chara=b64(v2_card())))
    assert card.name == "Keri Wolf"


def test_png_without_card_chunk() -> None:
    with pytest.raises(CardError, match="no character card"):
        load_card(make_png(Comment="just a picture"))


def test_png_corrupt_base64() -> None:
    with pytest.raises(CardError, match="base64"):
        load_card(make_png(chara="this is *not* base64!"))


def test_png_non_json_payload() -> None:
    payload = base64.b64encode(b"hello, not json").decode("ascii")
    with pytest.raises(CardError, match="JSON"):
        load_card(make_png(chara=payload))


def test_png_invalid_utf8_payload() -> None:
    payload = base64.b64encode(b'{"name": "\xff\xfe"}').decode("ascii")
    with pytest.raises(CardError, match="UTF-8"):
        load_card(make_png(chara=payload))


def png_with_late_chunk(key: str, value: str) -> bytes:
    """A PNG with the text chunk after IDAT, where SillyTavern writes it."""
    body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body))
    plain = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(plain, format="PNG")
    data = plain.getvalue()
    return data[:-12] + chunk + data[-12:]  # the last 12 bytes are the IEND chunk


def test_png_chunk_after_image_data() -> None:
    assert load_card(png_with_late_chunk("chara", b64(v2_card("Late")))).name == "Late"


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5, 0.9])
def test_truncated_png(fraction: float) -> None:
    for data in (make_png(chara=b64(v2_card())), png_with_late_chunk("chara", b64(v2_card()))):
        with pytest.raises(CardError, match="corrupt"):
            load_card(data[: int(len(data) * fraction)])


def test_corrupt_png_bytes() -> None:
    data = bytearray(make_png(chara=b64(v2_card())))
    data[40:60] = b"\x00" * 20  # damages the IHDR/IDAT region so CRCs fail
    with pytest.raises(CardError):
        load_card(bytes(data))


def test_oversized() -> None:
    data = json.dumps(v2_card(description="x" * CARD_MAX_BYTES)).encode("utf-8")
    assert len(data) > CARD_MAX_BYTES
    with pytest.raises(CardError, match="too big"):
        load_card(data, "big.json")


def test_neither_png_nor_json() -> None:
    with pytest.raises(CardError, match="neither"):
        load_card(b"GIF89a....", "thing.gif")
    with pytest.raises(CardError, match="not a valid PNG"):
        load_card(b"\xff\xd8\xff\xe0 jpeg bytes", "renamed.png")


def test_json_v1_maps_fields() -> None:
    raw = {
        "name": "Bob",
        "description": "A plain farmer.",
        "personality": "Grumpy",
        "scenario": "A farm.",
        "first_mes": "Get off my land!",
        "mes_example": "",
    }
    card = load_card(json.dumps(raw).encode("utf-8"), "bob.json")
    assert card.spec == "v1"
    assert card.scenario == "A farm."
    assert card.greeting == "Get off my land!"
    assert render_sheet(card.sheet) == (
        "**Character Name**: Bob\n**Biography**:\nA plain farmer.\n**Personality**: Grumpy"
    )


def test_json_v2_maps_fields() -> None:
    card = load_card(json.dumps(v2_card()).encode("utf-8"))
    assert card.spec == "chara_card_v2"
    assert card.sheet.name == "Keri Wolf"
    assert card.scenario == "The college gates at dusk."
    assert card.greeting == "Keri looks up from her carving."
    bio = card.sheet.get("Biography")
    personality = card.sheet.get("Personality")
    assert bio is not None and bio.text == "A quiet swordswoman."
    assert personality is not None and personality.text == "Easy-going"


def test_json_v3_with_sheet_description() -> None:
    raw = v3_card(description=SHEET_DESC)
    card = load_card(("\ufeff" + json.dumps(raw)).encode("utf-8"), "satori.json")
    assert card.spec == "chara_card_v3"
    assert render_sheet(card.sheet) == "**Character Name**: Satori\n" + SHEET_DESC
    assert card.sheet.get("Personality") is None


def test_description_with_one_standard_field_stays_biography() -> None:
    card = load_card(json.dumps(v2_card(description="**Age**: 30 and counting")).encode())
    bio = card.sheet.get("Biography")
    assert bio is not None and bio.text == "**Age**: 30 and counting"
    assert card.sheet.get("Age") is None


def test_unsupported_spec() -> None:
    raw = {"spec": "chara_card_v9", "data": {"name": "X"}}
    with pytest.raises(CardError, match="chara_card_v9"):
        load_card(json.dumps(raw).encode())


@pytest.mark.parametrize(
    "raw",
    [
        {"description": "no name"},
        {"name": "   "},
        {"spec": "chara_card_v2", "data": {"description": "x"}},
        {"spec": "chara_card_v3", "data": {"name": 5}},
    ],
)
def test_missing_name(raw: dict[str, Any]) -> None:
    with pytest.raises(CardError, match="name"):
        load_card(json.dumps(raw).encode())


def test_malformed_json_and_non_object() -> None:
    with pytest.raises(CardError, match="not valid JSON"):
        load_card(b'{"name": "Bob",', "bob.json")
    with pytest.raises(CardError, match="object"):
        load_card(b'["name", "Bob"]')
    with pytest.raises(CardError, match="UTF-8"):
        load_card(b'{"name": "\xff"}')
    with pytest.raises(CardError, match="data"):
        load_card(b'{"spec": "chara_card_v2", "name": "Bob"}')


def test_description_too_long_for_sheet() -> None:
    with pytest.raises(CardError, match="too long"):
        load_card(json.dumps(v2_card(description="y" * 9000)).encode())


def test_export_v2_keeps_everything_else() -> None:
    original = v2_card()
    original["name"] = "Keri Wolf"  # a V1 mirror at the top level, as SillyTavern writes
    before = json.loads(json.dumps(original))
    out = export_card_v2("Keri", "**Character Name**: Keri", "Hello.", None, original)
    assert original == before  # the stored original is not mutated
    assert out["spec"] == "chara_card_v2" and out["spec_version"] == "2.0"
    assert out["name"] == "Keri"
    data = out["data"]
    assert data["name"] == "Keri"
    assert data["description"] == "**Character Name**: Keri"
    assert data["first_mes"] == "Hello."
    assert data["scenario"] == ""
    for key in ("extensions", "alternate_greetings", "character_book", "personality"):
        assert data[key] == original["data"][key]
    again = load_card(json.dumps(out).encode())
    assert again.raw["data"]["extensions"] == {"talkativeness": "0.5", "depth_prompt": {"depth": 4}}
    assert again.greeting == "Hello." and again.scenario is None


def test_export_from_v3_and_v1_and_none() -> None:
    from_v3 = export_card_v2("Satori", "s", None, "Night.", v3_card())
    assert from_v3["spec"] == "chara_card_v2"
    assert from_v3["data"]["group_only_greetings"] == ["Hey all."]
    assert from_v3["data"]["extensions"] == {"x": 1}
    assert from_v3["data"]["scenario"] == "Night."
    from_v1 = export_card_v2("Bob", "b", "Hi", None, {"name": "Bob", "mes_example": "<START>"})
    assert from_v1["data"]["mes_example"] == "<START>"
    assert "name" not in from_v1
    fresh = export_card_v2("New", "n", None, None, None)
    assert fresh["data"]["name"] == "New"
    assert fresh["data"]["extensions"] == {} and fresh["data"]["alternate_greetings"] == []


def test_card_to_png_round_trip_placeholder() -> None:
    card = export_card_v2("Keri", SHEET_DESC, "Hi ✨", "Dusk", v2_card())
    png = card_to_png(card)
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == (400, 600)
    loaded = load_card(png, "keri.png")
    assert loaded.raw == card
    assert loaded.name == "Keri" and loaded.greeting == "Hi ✨" and loaded.scenario == "Dusk"
    assert render_sheet(loaded.sheet) == "**Character Name**: Keri\n" + SHEET_DESC + (
        "\n**Personality**: Easy-going"
    )


def test_card_to_png_with_own_image_replaces_old_card() -> None:
    image = make_png(chara=b64(v2_card("Stale")))
    png = card_to_png(export_card_v2("Fresh", "f", None, None, None), image)
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == (8, 12)
    assert load_card(png).name == "Fresh"
    with pytest.raises(CardError):
        card_to_png({}, b"not an image")
