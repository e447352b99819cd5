"""Hypothesis strategies for malformed and extreme model inputs.

Each strategy draws :class:`Case` values: the input itself, whether a careful model must refuse
it (``invalid``) and a short description for the finding. Hypothesis then searches and shrinks,
so a finding names the *smallest* input that shows the problem (one NaN in a batch of one,
say), which is what a developer wants to reproduce.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Case:
    value: Any
    invalid: bool
    what: str


def describe(value: Any) -> str:
    """A short, printable description of an input (never the whole array)."""
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes {bytes(value[:16])!r}..."
    if isinstance(value, np.ndarray):
        flat = value.reshape(-1)[:4]
        return f"array shape={value.shape} dtype={value.dtype} first={flat.tolist()!r}"
    return f"{type(value).__name__} {value!r}"[:120]


def _batch(shape: tuple[int, ...], lo: float, hi: float, rows: st.SearchStrategy[int]) -> Any:
    return rows.flatmap(lambda n: hnp.arrays(
        np.float32, (n, *shape), elements=st.floats(lo, hi, width=32)))


def _poke(shape: tuple[int, ...], lo: float, hi: float,
          values: st.SearchStrategy[float], what: str) -> st.SearchStrategy[Case]:
    """Valid batches with some cells replaced by ``values``."""

    @st.composite
    def build(draw: Any) -> Case:
        x = draw(_batch(shape, lo, hi, st.integers(1, 4))).copy()
        flat = x.reshape(-1)
        cells = draw(st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=4,
                              unique=True))
        for c in cells:
            flat[c] = draw(values)
        return Case(x, True, what)

    return build()


def _wrong_shapes(shape: tuple[int, ...], lo: float, hi: float) -> st.SearchStrategy[Case]:
    size = int(np.prod(shape))
    dims = st.lists(st.integers(0, size + 2), min_size=0, max_size=len(shape) + 2)
    # (n, *shape) is a batch and shape alone a single row: both are valid.
    return dims.filter(lambda d: tuple(d[1:]) != shape and tuple(d) != shape).map(
        lambda d: Case(np.full(tuple(d), (lo + hi) / 2, np.float32), True, "wrong shape"))


_DTYPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "float64": lambda x: x.astype(np.float64),
    "float16": lambda x: x.astype(np.float16),
    "int64": lambda x: x.astype(np.int64),
    "bool": lambda x: x > 0.5,
    "complex64": lambda x: x.astype(np.complex64) + 1j,
    "str": lambda x: x.astype(str),
    "object": lambda x: x.astype(object),
}
# Casting these to float32 loses nothing that matters (bools are 0/1, inside any [0, 1] range).
_OK_DTYPES = {"float64", "float16", "int64", "bool"}


def _dtypes(shape: tuple[int, ...], lo: float, hi: float) -> st.SearchStrategy[Case]:
    return st.tuples(_batch(shape, lo, hi, st.integers(1, 3)), st.sampled_from(sorted(_DTYPES)))\
        .map(lambda t: Case(_DTYPES[t[1]](t[0]), t[1] not in _OK_DTYPES, f"dtype {t[1]}"))


def _png(width: int, height: int, payload: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", payload)


def corrupt_images() -> st.SearchStrategy[Case]:
    """Truncated, garbage and decompression-bomb-like image files."""
    headers = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM"])
    truncated = st.tuples(headers, st.binary(max_size=64)).map(lambda t: t[0] + t[1])
    bombs = st.tuples(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1),
                      st.binary(max_size=32)).map(lambda t: _png(*t))
    return st.one_of(truncated, bombs, st.binary(max_size=256)).map(
        lambda b: Case(b, True, "corrupt image bytes"))


def probes(shape: tuple[int, ...], bounds: tuple[float, float]) -> dict[str, Any]:
    """Every probe by name: a strategy of :class:`Case`."""
    lo, hi = bounds
    span = max(hi - lo, 1.0)
    return {
        "nan": _poke(shape, lo, hi, st.just(float("nan")), "NaN values"),
        "inf": _poke(shape, lo, hi, st.sampled_from([float("inf"), float("-inf")]),
                     "infinite values"),
        "huge": _poke(shape, lo, hi, st.floats(float(np.float32(1e20)), _F32_MAX, width=32).flatmap(
            lambda v: st.sampled_from([v, -v])), "huge magnitudes"),
        "out_of_range": _poke(shape, lo, hi, st.floats(0.5, 100.0).flatmap(
            lambda d: st.sampled_from([lo - d * span, hi + d * span])), "out-of-range values"),
        "wrong_shape": _wrong_shapes(shape, lo, hi),
        "dtype": _dtypes(shape, lo, hi),
        "empty": st.just(Case(np.zeros((0, *shape), np.float32), False, "empty batch")),
        "image_bytes": corrupt_images(),
    }


PROBES = ("nan", "inf", "huge", "out_of_range", "wrong_shape", "dtype", "empty", "image_bytes")
