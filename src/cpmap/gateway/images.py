"""Image inputs: only the allowed formats, checked byte by byte before Pillow decodes anything.

Order matters: (1) magic bytes (``filetype``) must name an allowed format, and the declared
content type, when it names an image, must agree; (2) the file's structure is walked (PNG chunks
with their CRCs, JPEG marker segments and entropy-coded scans) to read the pixel dimensions from
the header and to find where the image ends: anything after IEND/EOI (a ZIP, a script, a
second image: a polyglot) is refused; (3) the pixel count is capped from the header, before
decoding (a decompression bomb is refused without inflating it); (4) Pillow opens it with
``formats=`` limited to that one format; (5) the pixels are converted to the model's channels,
resized to its input, and re-encoded as a metadata-free PNG (EXIF and every other chunk
dropped), which is what the model sees and the prediction log hashes.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from cpmap.gateway.errors import Refusal

MIME_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG"}
PNG_SIG = b"\x89PNG\r\n\x1a\n"
MAX_CHUNKS = 10_000
# JPEG start-of-frame markers that carry the dimensions (not DHT C4, JPG C8, DAC CC).
SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # float32 [channels * height * width] in the model's training range
    png: bytes  # the re-encoded, metadata-free image
    source_format: str
    source_size: tuple[int, int]


def unsupported(message: str) -> Refusal:
    return Refusal(415, message, "unsupported-media")


def sniff(body: bytes, allowed: tuple[str, ...], declared: str | None = None) -> str:
    """The Pillow format name of ``body`` if its magic bytes name an allowed format."""
    import filetype  # type: ignore[import-untyped]

    kind = filetype.guess(body[:262]) if body else None
    fmt = MIME_FORMAT.get(kind.mime) if kind is not None else None
    if fmt is None or fmt not in allowed:
        raise unsupported(f"body: not an accepted image ({' or '.join(allowed)})")
    if declared and declared.startswith("image/") and MIME_FORMAT.get(declared) != fmt:
        raise unsupported(f"body: declared {declared[:40]} but the bytes are {fmt}")
    return fmt


def png_size(body: bytes) -> tuple[int, int]:
    """(width, height) from IHDR; the file must end exactly at IEND, every CRC right."""
    if not body.startswith(PNG_SIG):
        raise unsupported("PNG: bad signature")
    pos, size, chunks = 8, None, 0
    while True:
        if pos + 12 > len(body) or chunks > MAX_CHUNKS:
            raise unsupported("PNG: truncated or too many chunks")
        length, ctype = struct.unpack(">I4s", body[pos:pos + 8])
        end = pos + 12 + length
        if end > len(body) or zlib.crc32(body[pos + 4:end - 4]) != struct.unpack(
                ">I", body[end - 4:end])[0]:
            raise unsupported(f"PNG: chunk {ctype!r:.12} truncated or its CRC is wrong")
        if chunks == 0 and (ctype != b"IHDR" or length != 13):
            raise unsupported("PNG: first chunk is not IHDR")
        if ctype == b"IHDR":
            size = struct.unpack(">II", body[pos + 8:pos + 16])
        chunks, pos = chunks + 1, end
        if ctype == b"IEND":
            break
    if pos != len(body):
        raise unsupported(f"PNG: {len(body) - pos} bytes after IEND (trailing data/polyglot)")
    assert size is not None  # noqa: S101 - set by the first chunk, checked above
    return int(size[0]), int(size[1])


def _scan_end(body: bytes, pos: int) -> int:
    """Position of the marker that ends an entropy-coded scan starting at ``pos``."""
    while True:
        pos = body.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(body):
            raise unsupported("JPEG: scan data runs past the end (truncated)")
        nxt = body[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos


def jpeg_size(body: bytes) -> tuple[int, int]:
    """(width, height) from the frame header; the file must end exactly at EOI."""
    if not body.startswith(b"\xff\xd8"):
        raise unsupported("JPEG: bad signature")
    pos, size = 2, None
    while True:
        if pos + 2 > len(body) or body[pos] != 0xFF:
            raise unsupported("JPEG: malformed marker structure")
        marker = body[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            pos += 2
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > len(body):
            raise unsupported("JPEG: truncated segment")
        length = struct.unpack(">H", body[pos + 2:pos + 4])[0]
        seg_end = pos + 2 + length
        if length < 2 or seg_end > len(body):
            raise unsupported("JPEG: segment length runs past the end")
        if marker in SOF and length >= 7:
            h, w = struct.unpack(">HH", body[pos + 5:pos + 9])
            size = (w, h)
        pos = _scan_end(body, seg_end) if marker == 0xDA else seg_end
    if size is None:
        raise unsupported("JPEG: no frame header")
    if pos != len(body):
        raise unsupported(f"JPEG: {len(body) - pos} bytes after EOI (trailing data/polyglot)")
    return size


def decode(body: bytes, fmt: str, shape: tuple[int, int, int], bounds: tuple[float, float],
           max_pixels: int) -> Decoded:
    """Check, decode, resize and re-encode an image of format ``fmt`` (already sniffed)."""
    width, height = png_size(body) if fmt == "PNG" else jpeg_size(body)
    if width < 1 or height < 1:
        raise unsupported(f"{fmt}: image has no pixels")
    if width * height > max_pixels:
        raise Refusal(413, f"{fmt}: {width}x{height} pixels exceeds the cap of {max_pixels} "
                      "(decompression bomb?)", "image-too-large")
    img = _open(body, fmt, (width, height))
    channels, out_h, out_w = shape
    img = img.convert("L" if channels == 1 else "RGB").resize((out_w, out_h))
    clean = _reencode(img)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if channels != 1:
        arr = arr.transpose(2, 0, 1)  # CHW, as the model's rows are laid out
    lo, hi = bounds
    pixels = (arr.reshape(-1) * (hi - lo) + lo).astype(np.float32)
    return Decoded(pixels, clean, fmt, (width, height))


def _open(body: bytes, fmt: str, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(body), formats=[fmt])
            if img.size != size:
                raise unsupported(f"{fmt}: header and decoder disagree on the size")
            img.load()
    except Refusal:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise unsupported(f"{fmt}: cannot decode the image") from None
    return img


def _reencode(img) -> bytes:  # type: ignore[no-untyped-def]
    """A PNG holding only the pixels: no EXIF, no text chunks, no ICC profile."""
    from PIL import Image

    bare = Image.frombytes(img.mode, img.size, img.tobytes())
    buf = io.BytesIO()
    bare.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
