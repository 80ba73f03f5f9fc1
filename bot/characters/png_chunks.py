"""PNG cards read and written chunk by chunk: image data is never decoded or decompressed."""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import png

from bot.characters.errors import CORRUPT_PNG, CardError, card_too_big

CARD_KEYWORDS = ("ccv3", "chara")  # in order of preference
_TEXT_TYPES = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_KEYWORD_MAX = 79  # the PNG spec's longest keyword
_PLACEHOLDER_SIZE = (400, 600)
_PLACEHOLDER_COLOR = (47, 49, 54)


@dataclass(frozen=True)
class TextChunk:
    """A card text chunk: its type and the bytes after its keyword."""

    kind: bytes
    body: bytes


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of every chunk up to IEND, CRC-checked; raises png.Error or EOFError."""
    # pypng's chunks() reads a chunk's bytes but never inflates them, and stops after IEND.
    # It does not cap a chunk's declared length, but reading from `bytes` can never return
    # more than the input holds, which the caller has already capped (CARD_MAX_BYTES).
    chunks: Iterator[tuple[bytes, bytes]] = png.Reader(bytes=data).chunks()  # pypng is untyped
    return chunks


def _card_keyword(kind: bytes, body: bytes) -> tuple[str, bytes] | None:
    """(keyword, rest of the body) if this is a `ccv3`/`chara` text chunk."""
    if kind not in _TEXT_TYPES:
        return None
    end = body.find(b"\0", 0, _KEYWORD_MAX + 1)
    if end < 0:
        return None
    key = body[:end].decode("latin-1").lower()
    return (key, body[end + 1 :]) if key in CARD_KEYWORDS else None


def card_chunks(data: bytes) -> dict[str, TextChunk]:
    """The first text chunk of each card keyword, found by walking every chunk to IEND."""
    found: dict[str, TextChunk] = {}
    try:
        for kind, body in _chunks(data):
            card = _card_keyword(kind, body)
            if card is not None and card[0] not in found:
                found[card[0]] = TextChunk(kind, card[1])
    except (png.Error, EOFError):
        raise CardError(CORRUPT_PNG) from None
    return found


def _inflate(payload: bytes, max_bytes: int, json_limit: int) -> bytes:
    """Decompress a zlib stream, producing at most max_bytes before giving up."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, max_bytes + 1)
    except zlib.error:
        raise CardError(CORRUPT_PNG) from None
    if len(out) > max_bytes:
        raise card_too_big(json_limit)
    if not inflater.eof:  # the stream stopped early
        raise CardError(CORRUPT_PNG)
    return out


def _stored(text: bytes, max_bytes: int, json_limit: int) -> bytes:
    """Uncompressed chunk text, refused above max_bytes like compressed text."""
    if len(text) > max_bytes:
        raise card_too_big(json_limit)
    return text


def chunk_text(chunk: TextChunk, json_limit: int) -> str:
    """The text of a card chunk, decompressed with a cap derived from the JSON cap."""
    # Base64 is 4/3 of the JSON it carries; twice the JSON cap leaves room for line breaks.
    cap = 2 * json_limit
    body = chunk.body
    if chunk.kind == b"tEXt":
        return _stored(body, cap, json_limit).decode("latin-1")
    if chunk.kind == b"zTXt":
        if body[:1] != b"\0":  # compression method 0 (deflate) is the only one defined
            raise CardError(CORRUPT_PNG)
        return _inflate(body[1:], cap, json_limit).decode("latin-1")
    # iTXt: compression flag, method, language tag NUL, translated keyword NUL, UTF-8 text.
    flag, method = body[:1], body[1:2]
    _language, _, rest = body[2:].partition(b"\0")
    _translated, sep, text = rest.partition(b"\0")
    if not sep or flag not in (b"\0", b"\1") or (flag == b"\1" and method != b"\0"):
        raise CardError(CORRUPT_PNG)
    raw = _inflate(text, cap, json_limit) if flag == b"\1" else _stored(text, cap, json_limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CardError("The card data is not valid UTF-8 text.") from None


@functools.cache
def placeholder_png() -> bytes:
    """A plain dark PNG for cards exported without an image of their own."""
    width, height = _PLACEHOLDER_SIZE
    row = bytes(_PLACEHOLDER_COLOR) * width
    out = io.BytesIO()
    png.Writer(width, height, greyscale=False, bitdepth=8).write(out, [row] * height)
    return out.getvalue()


def with_text_chunk(image: bytes, keyword: str, text: str) -> bytes:
    """The PNG with its card chunks replaced by one tEXt chunk; pixels are copied as they are."""
    try:
        chunks = [c for c in _chunks(image) if _card_keyword(*c) is None]
    except (png.Error, EOFError):
        raise CardError("That image could not be read (it must be a PNG).") from None
    new = (b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
    chunks.insert(len(chunks) - 1, new)  # just before IEND
    out = io.BytesIO()
    png.write_chunks(out, chunks)
    return out.getvalue()
