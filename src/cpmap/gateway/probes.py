"""The requests ``cpmap gateway check`` sends, and what a secure gateway must answer to each.

Each probe is a name, a request, and the statuses that count as refused correctly. They cover
credentials (missing, forged, revoked, wrong scope), bodies (malformed, NaN, extra fields, wrong
shape, out of range, oversized, too deep, batch too large, wrong media type) and, for image
models, the file-parser cases (a format not accepted, a polyglot, a decompression bomb, a
truncated file). Every answer must also be JSON ``{"error": ...}`` without a path or traceback.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

PNG_SIG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Probe:
    name: str
    expect: tuple[int, ...]
    body: bytes = b""
    content_type: str = "application/json"
    auth: str = "good"  # good | none | forged | revoked | scope
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


def rows(dim: int, n: int = 1, value: Any = 0.5) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": [n, dim],
                        "data": [value] * (n * dim)}]}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))


def png(width: int, height: int, trailing: bytes = b"") -> bytes:
    """A structurally valid grey PNG header claiming ``width x height`` (IDAT tiny)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b"") + trailing)


def jpeg(width: int = 8, height: int = 8) -> bytes:
    """A small real JPEG whose frame header claims ``width x height`` (a bomb when large)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), 200).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def probes(dim: int, image: bool) -> list[Probe]:
    good = json.dumps(rows(dim)).encode()
    out = [
        Probe("no-credentials", (401,), good, auth="none"),
        Probe("forged-key", (401,), good, auth="forged"),
        Probe("revoked-key", (401,), good, auth="revoked"),
        Probe("wrong-scope", (403,), good, auth="scope"),
        Probe("malformed-json", (400,), b'{"inputs": [{'),
        Probe("nan-literal", (400,), good.replace(b"0.5", b"NaN", 1)),
        Probe("infinite-number", (400,), good.replace(b"0.5", b"1e999", 1)),
        Probe("extra-field", (400,), json.dumps({**rows(dim), "debug": True}).encode()),
        Probe("wrong-shape", (400,), json.dumps(rows(dim + 1)).encode()),
        Probe("string-as-number", (400,), json.dumps(rows(dim, value="0.5")).encode()),
        Probe("out-of-range", (400,), json.dumps(rows(dim, value=1e6)).encode()),
        Probe("oversized-body", (413,), b"[" + b"0," * (1 << 20) + b"0]"),
        Probe("deep-nesting", (400, 413), b"[" * 50_000 + b"]" * 50_000),
        Probe("batch-too-large", (413, 400), json.dumps(rows(dim, n=100_000 // dim + 1))
              .encode()),
        Probe("wrong-media-type", (415,), good, content_type="text/plain"),
        Probe("method-not-allowed", (405,), method="GET"),
    ]
    if image:
        out += [
            Probe("gif-image", (415,), b"GIF89a" + b"\x00" * 32, content_type="image/gif"),
            Probe("polyglot-png-zip", (415,), png(8, 8, b"PK\x03\x04" + b"\x00" * 26),
                  content_type="image/png"),
            Probe("decompression-bomb-png", (413, 415), png(50_000, 50_000),
                  content_type="image/png"),
            Probe("decompression-bomb-jpeg", (413, 415), jpeg(50_000, 50_000),
                  content_type="image/jpeg"),
            Probe("truncated-jpeg", (415,), b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
                  content_type="image/jpeg"),
        ]
    return out
