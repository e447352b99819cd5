"""The requests ``cpmap gateway check`` sends, and what a secure gateway must answer to each.

Each probe is a name, a request, and the statuses that count as refused correctly. They cover
credentials (missing, forged, revoked, wrong scope), bodies (malformed, NaN, extra fields, wrong
shape, out of range, oversized, too deep, batch too large, wrong media type) and, for image
models, the file-parser cases (a format not accepted, a polyglot, a decompression bomb, a
truncated file) and, for table models, a missing or unknown column and an unseen category.
Every answer must also be JSON ``{"error": ...}`` without a path or traceback.
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


MARK = "__cpmap_probe_value__"  # replaced in the serialized body by a literal JSON forbids


@dataclass(frozen=True)
class Contract:
    """What a gateway's metadata says its infer route takes: one ``input`` tensor ``[n, dim]``,
    or one input per named column (a table model; see :mod:`cpmap.gateway.table`)."""

    dim: int
    columns: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_metadata(cls, doc: dict[str, Any]) -> Contract:
        inputs = list(doc.get("inputs") or [])
        if len(inputs) == 1 and inputs[0].get("name") == "input":
            return cls(int(inputs[0]["shape"][-1]))
        return cls(len(inputs), tuple(inputs))

    def body(self, n: int = 1, value: Any = None) -> dict[str, Any]:
        """A valid request of ``n`` rows; with ``value``, every number replaced by it."""
        if not self.columns:
            return rows(self.dim, n, 0.5 if value is None else value)
        return {"inputs": [self._column(c, n, value) for c in self.columns]}

    def _column(self, c: dict[str, Any], n: int, value: Any) -> dict[str, Any]:
        params = c.get("parameters") or {}
        if c["datatype"] == "BYTES":
            data: list[Any] = [params["categories"][0]] * n
        elif value is not None:
            data = [value] * n
        else:
            mid = (float(params["min"]) + float(params["max"])) / 2
            data = [round(mid) if c["datatype"].startswith("INT") else mid] * n
        return {"name": c["name"], "datatype": c["datatype"], "shape": [n], "data": data}

    def literal(self, text: str) -> bytes:
        """A body whose numbers are the raw JSON ``text`` (NaN, 1e999): not valid JSON."""
        return json.dumps(self.body(value=MARK)).encode().replace(
            json.dumps(MARK).encode(), text.encode())

    def wrong_shape(self) -> dict[str, Any]:
        if not self.columns:
            return rows(self.dim + 1)
        doc = self.body()
        doc["inputs"][0]["shape"] = [1, 2]
        return doc

    def out_of_range(self) -> dict[str, Any]:
        if not self.columns:
            return rows(self.dim, value=1e6)
        doc = self.body()
        for c, t in zip(self.columns, doc["inputs"], strict=True):
            if c["datatype"] != "BYTES":
                t["data"] = [float(c["parameters"]["max"]) * 10 + 1e6]
        return doc

    def table_probes(self) -> list[Probe]:
        """The cases only named columns have: a missing, an unknown, an unseen category."""
        if not self.columns:
            return []
        missing, extra = self.body(), self.body()
        missing["inputs"] = missing["inputs"][1:]
        extra["inputs"].append({"name": "debug", "datatype": "FP64", "shape": [1],
                                "data": [1.0]})
        out = [Probe("missing-column", (400,), json.dumps(missing).encode()),
               Probe("unknown-column", (400,), json.dumps(extra).encode())]
        cats = [i for i, c in enumerate(self.columns) if c["datatype"] == "BYTES"]
        if cats:
            doc = self.body()
            doc["inputs"][cats[0]]["data"] = ["<script>unseen</script>"]
            out.append(Probe("unknown-category", (400,), json.dumps(doc).encode()))
        return out


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


def probes(contract: Contract | int, image: bool) -> list[Probe]:
    c = contract if isinstance(contract, Contract) else Contract(contract)
    good = json.dumps(c.body()).encode()
    out = [
        Probe("no-credentials", (401,), good, auth="none"),
        Probe("forged-key", (401,), good, auth="forged"),
        Probe("revoked-key", (401,), good, auth="revoked"),
        Probe("wrong-scope", (403,), good, auth="scope"),
        Probe("malformed-json", (400,), b'{"inputs": [{'),
        Probe("nan-literal", (400,), c.literal("NaN")),
        Probe("infinite-number", (400,), c.literal("1e999")),
        Probe("extra-field", (400,), json.dumps({**c.body(), "debug": True}).encode()),
        Probe("wrong-shape", (400,), json.dumps(c.wrong_shape()).encode()),
        Probe("string-as-number", (400,), json.dumps(c.body(value="0.5")).encode()),
        Probe("out-of-range", (400,), json.dumps(c.out_of_range()).encode()),
        Probe("oversized-body", (413,), b"[" + b"0," * (1 << 20) + b"0]"),
        Probe("deep-nesting", (400, 413), b"[" * 50_000 + b"]" * 50_000),
        Probe("batch-too-large", (413, 400), json.dumps(c.body(n=100_000 // c.dim + 1))
              .encode()),
        Probe("wrong-media-type", (415,), good, content_type="text/plain"),
        Probe("method-not-allowed", (405,), method="GET"),
        *c.table_probes(),
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
