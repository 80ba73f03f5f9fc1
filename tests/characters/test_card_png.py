"""PNG cards are read chunk by chunk: huge images and zip bombs cost nothing."""

from __future__ import annotations

import base64
import json
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import ImageFile

from bot.characters.cards import CardError, card_to_png, export_card_v2, load_card

# Reading a card may allocate this much at most; decoding even the 10,000 × 10,000
# greyscale test image would need 100 MB for its pixels alone.
MEMORY_BOUND = 8 * 2**20
GIB = 2**30


def card(name: str = "Satori") -> dict[str, Any]:
    """A small V3 card."""
    data = {"name": name, "description": "Keri's best friend.", "first_mes": "Hi."}
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


def b64(value: dict[str, Any]) -> bytes:
    """Base64 of the card's UTF-8 JSON, as card chunks carry it."""
    return base64.b64encode(json.dumps(value).encode("utf-8"))


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def repeated_zlib(block: bytes, times: int) -> bytes:
    """A valid zlib stream of `block` repeated `times` times, built without compressing it all."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    # A full flush resets the window, so the compressed block is the same every time.
    piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(times):
        checksum = zlib.adler32(block, checksum)
    # zlib header, the blocks, an empty final block, the Adler-32 of everything.
    return b"\x78\xda" + piece * times + b"\x03\x00" + struct.pack(">I", checksum)


def inflated_size(stream: bytes) -> int:
    """How many bytes a zlib stream inflates to, counted in bounded steps."""
    inflater = zlib.decompressobj()
    total, data = 0, stream
    while data and not inflater.eof:
        total += len(inflater.decompress(data, 2**24))
        data = inflater.unconsumed_tail
    return total


def blank_idat(width: int, height: int) -> bytes:
    """Compressed rows of an all-black 8-bit greyscale image (filter byte 0 + pixels)."""
    rows_per_block = 100
    assert height % rows_per_block == 0
    return repeated_zlib(bytes(1 + width) * rows_per_block, height // rows_per_block)


def png_file(width: int, height: int, idat: bytes, *extra: bytes) -> bytes:
    """A PNG declaring width × height 8-bit greyscale, with extra chunks before IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    parts = [chunk(b"IHDR", header), *extra, chunk(b"IDAT", idat), chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(parts)


def text_chunk(key: bytes, value: bytes) -> bytes:
    """An uncompressed tEXt chunk."""
    return chunk(b"tEXt", key + b"\0" + value)


def ztxt_chunk(key: bytes, stream: bytes) -> bytes:
    """A zTXt chunk around an already compressed stream."""
    return chunk(b"zTXt", key + b"\0\0" + stream)


def itxt_chunk(key: bytes, value: bytes, compressed: bool = False) -> bytes:
    """An iTXt chunk (no language tag, no translated keyword)."""
    flag = b"\1\0" if compressed else b"\0\0"
    return chunk(b"iTXt", key + b"\0" + flag + b"\0\0" + value)


CARD_CHUNKS: dict[str, Callable[[bytes], bytes]] = {
    "tEXt": lambda value: text_chunk(b"ccv3", value),
    "zTXt": lambda value: ztxt_chunk(b"ccv3", zlib.compress(value)),
    "iTXt": lambda value: itxt_chunk(b"ccv3", zlib.compress(value), compressed=True),
}


class DecodeSpy:
    """Records the input size of every zlib inflate call, and fails if Pillow loads pixels."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inputs: list[int] = []
        real_obj, real_decompress = zlib.decompressobj, zlib.decompress

        def decompressobj(*args: Any, **kwargs: Any) -> Any:
            return _SpyInflater(real_obj(*args, **kwargs), self.inputs)

        def decompress(data: bytes, *args: Any, **kwargs: Any) -> bytes:
            self.inputs.append(len(data))
            return real_decompress(data, *args, **kwargs)

        monkeypatch.setattr(zlib, "decompressobj", decompressobj)
        monkeypatch.setattr(zlib, "decompress", decompress)
        monkeypatch.setattr(ImageFile.ImageFile, "load", _pillow_decoded)


def _pillow_decoded(*args: object) -> None:
    """Stands in for Pillow's pixel loader (Pillow inflates in C, out of the zlib spy's sight)."""
    raise AssertionError("Pillow decoded the image data")


class _SpyInflater:
    """A decompressobj that reports its input sizes."""

    def __init__(self, inner: Any, inputs: list[int]) -> None:
        self.inner = inner
        self.inputs = inputs

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        self.inputs.append(len(data))
        return self.inner.decompress(data, max_length)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def peak_memory(work: Callable[[], object]) -> int:
    """Peak bytes Python allocated while `work` ran."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def idat_10k() -> bytes:
    return blank_idat(10_000, 10_000)


@pytest.fixture(scope="module")
def idat_20k() -> bytes:
    return blank_idat(20_000, 20_000)


def test_the_huge_test_images_are_real(idat_10k: bytes, idat_20k: bytes) -> None:
    assert inflated_size(idat_10k) == 10_000 * (1 + 10_000)
    assert inflated_size(idat_20k) == 20_000 * (1 + 20_000)
    assert len(idat_20k) < 500 * 1024  # small on disk, 400 MB of pixels


@pytest.mark.parametrize("kind", sorted(CARD_CHUNKS))
@pytest.mark.parametrize("size", [10_000, 20_000])
def test_huge_png_imports_without_touching_pixels(
    monkeypatch: pytest.MonkeyPatch, size: int, kind: str, idat_10k: bytes, idat_20k: bytes
) -> None:
    idat = idat_10k if size == 10_000 else idat_20k
    data = png_file(size, size, idat, CARD_CHUNKS[kind](b64(card())))
    spy = DecodeSpy(monkeypatch)
    loaded: list[str] = []
    peak = peak_memory(lambda: loaded.append(load_card(data, "huge.png").name))
    assert loaded == ["Satori"]
    assert peak < MEMORY_BOUND
    # Only the card chunk was ever inflated (once for a compressed chunk), never the IDAT.
    assert spy.inputs == ([] if kind == "tEXt" else [len(zlib.compress(b64(card())))])


def test_garbage_image_data_does_not_matter() -> None:
    idat = b"\xde\xad\xbe\xef" * 25_000  # not a zlib stream at all
    data = png_file(20_000, 20_000, idat, text_chunk(b"ccv3", b64(card())))
    assert load_card(data).name == "Satori"


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(lambda s: ztxt_chunk(b"ccv3", s), id="zTXt"),
        pytest.param(lambda s: itxt_chunk(b"chara", s, compressed=True), id="iTXt"),
    ],
)
def test_zip_bomb_card_chunk_is_refused(bomb: Callable[[bytes], bytes]) -> None:
    stream = repeated_zlib(b"A" * 2**20, 1024)  # about 1 MB that inflates to 1 GiB
    assert len(stream) < 2**21
    data = png_file(8, 8, zlib.compress(bytes(9 * 8)), bomb(stream))
    errors: list[str] = []

    def load() -> None:
        with pytest.raises(CardError) as caught:
            load_card(data, "bomb.png")
        errors.append(str(caught.value))

    assert peak_memory(load) < MEMORY_BOUND
    assert errors == ["That card's data is too big (the limit is 256 KiB)."]


def test_other_text_chunks_are_never_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = ztxt_chunk(b"Comment", repeated_zlib(b"A" * 2**20, 1024))
    data = png_file(8, 8, b"not even zlib", bomb, text_chunk(b"chara", b64(card("Plain"))))
    spy = DecodeSpy(monkeypatch)
    assert load_card(data).name == "Plain"
    assert spy.inputs == []


def test_uncompressed_itxt_and_keyword_case() -> None:
    data = png_file(8, 8, b"", itxt_chunk(b"CHARA", b64(card("Upper"))))
    assert load_card(data).name == "Upper"


def test_compressed_ccv3_wins_over_plain_chara() -> None:
    old = text_chunk(b"chara", b64(card("Old")))
    new = ztxt_chunk(b"ccv3", zlib.compress(b64(card("New"))))
    assert load_card(png_file(8, 8, b"", old, new)).name == "New"


def test_broken_zlib_in_ccv3_falls_back_to_chara() -> None:
    broken = ztxt_chunk(b"ccv3", b"\x78\x9cnot deflate")
    good = text_chunk(b"chara", b64(card("Fallback")))
    assert load_card(png_file(8, 8, b"", broken, good)).name == "Fallback"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(ztxt_chunk(b"ccv3", b"\x78\x9cnot deflate"), id="bad-zlib"),
        pytest.param(ztxt_chunk(b"ccv3", zlib.compress(b64(card()))[:-9]), id="cut-stream"),
        pytest.param(chunk(b"zTXt", b"ccv3\0\x07" + zlib.compress(b"x")), id="unknown-method"),
        pytest.param(chunk(b"iTXt", b"ccv3\0\x01"), id="short-itxt"),
    ],
)
def test_broken_compressed_card_chunk(bad: bytes) -> None:
    with pytest.raises(CardError, match=r"^That PNG is corrupt or truncated\.$"):
        load_card(png_file(8, 8, b"", bad))


def test_card_after_iend_is_not_read() -> None:
    data = png_file(8, 8, b"") + text_chunk(b"chara", b64(card()))
    with pytest.raises(CardError, match="no character card"):
        load_card(data)


def test_forged_chunk_length_is_corrupt_not_costly() -> None:
    forged = struct.pack(">I", 2**31 - 1) + b"tEXt" + b"chara\0"
    data = png_file(8, 8, b"")[:-12] + forged  # IEND replaced by a chunk claiming 2 GiB

    def load() -> None:
        with pytest.raises(CardError, match="corrupt"):
            load_card(data)

    assert peak_memory(load) < MEMORY_BOUND


def test_bad_crc_in_image_data_is_corrupt() -> None:
    data = bytearray(png_file(8, 8, b"pixels", text_chunk(b"chara", b64(card()))))
    data[data.index(b"pixels")] ^= 0xFF
    with pytest.raises(CardError, match="corrupt"):
        load_card(bytes(data))


def chunk_types(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG, read by hand."""
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        yield data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length


def test_card_to_png_keeps_pixels_and_drops_old_cards(idat_10k: bytes) -> None:
    stale = ztxt_chunk(b"ccv3", zlib.compress(b64(card("Stale"))))
    image = png_file(10_000, 10_000, idat_10k, stale, text_chunk(b"Title", b"kept"))
    out = card_to_png(export_card_v2("Fresh", "f", None, None, None), image)
    assert load_card(out).name == "Fresh"
    chunks = list(chunk_types(out))
    assert (b"IDAT", idat_10k) in chunks and (b"tEXt", b"Title\0kept") in chunks
    assert [kind for kind, _ in chunks].count(b"zTXt") == 0
    assert chunks[-1] == (b"IEND", b"")


def test_text_chunk_without_a_keyword_separator_is_not_a_card() -> None:
    no_separator = chunk(b"tEXt", b"chara" + b64(card()))
    with pytest.raises(CardError, match="no character card"):
        load_card(png_file(8, 8, b"", no_separator))
