"""safetensors header validation: the format holds no code, but a malformed header (overlapping,
out-of-range or gapped offsets, sizes that disagree with shape x dtype, duplicate keys) makes
loaders read out of bounds or disagree about the tensors, so it is ``suspicious``."""

from __future__ import annotations

import json
import math
import struct
from typing import IO, Any

from cpmap.supplychain.modelfiles.report import Collector, ModelVerdict

MAX_HEADER = 100 << 20
# bits per element: sub-byte float formats pack several elements per byte
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
              "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
              "F64": 64, "I64": 64, "U64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


def looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    n = struct.unpack("<Q", head[:8])[0]
    return 2 <= n <= MAX_HEADER and head[8:9] == b"{"


def scan_safetensors(fh: IO[bytes], size: int, col: Collector, where: str = "") -> None:
    def bad(message: str) -> None:
        col.add(ModelVerdict.SUSPICIOUS, "bad-safetensors", message, where)

    raw = fh.read(8)
    if len(raw) < 8:
        return bad("file shorter than the 8-byte header length")
    n = struct.unpack("<Q", raw)[0]
    if n > MAX_HEADER or n + 8 > size:
        return bad(f"header length {n} exceeds the file or the {MAX_HEADER >> 20} MiB limit")
    try:
        header = json.loads(fh.read(n).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as e:
        return bad(f"header is not valid JSON: {e}"[:200])
    if not isinstance(header, dict):
        return bad("header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        bad("__metadata__ must map strings to strings")
    spans = []
    for name, entry in header.items():
        problem = _entry_problem(entry)
        if problem:
            bad(f"tensor {name!r}: {problem}")
            continue
        spans.append((entry["data_offsets"][0], entry["data_offsets"][1], name))
    _check_layout(sorted(spans), size - 8 - n, bad)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys")
    return dict(pairs)


def _entry_problem(entry: Any) -> str:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return "entry must have exactly dtype, shape and data_offsets"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BITS:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return "shape must be a list of non-negative integers"
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        return "data_offsets must be [begin, end] with 0 <= begin <= end"
    expected = math.ceil(math.prod(shape) * DTYPE_BITS[dtype] / 8)
    if offsets[1] - offsets[0] != expected:
        return (f"{offsets[1] - offsets[0]} bytes but shape {shape} of {dtype} needs "
                f"{expected}")
    return ""


def _check_layout(spans: list[tuple[int, int, str]], data_len: int, bad: Any) -> None:
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            bad(f"tensor {name!r} starts at {begin}, expected {cursor} (gap or overlap)")
        cursor = max(cursor, end)
    if cursor != data_len:
        bad(f"tensors cover {cursor} bytes but the data section holds {data_len}")
