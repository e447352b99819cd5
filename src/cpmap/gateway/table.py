"""Named-column requests for table models (a user's own pipeline over typed columns).

A model registered with a feature schema (``cpmap registry register --data ... --target ...``)
is fed by its clients the way it was trained: one Open Inference Protocol v2 input per column,
by name, all of the same length ``n`` (MLServer's pandas codec sends the same shape)::

    {"inputs": [{"name": "age", "datatype": "INT64", "shape": [2], "data": [34, 51]},
                {"name": "income", "datatype": "FP64", "shape": [2], "data": [48000.0, 61250.5]},
                {"name": "region", "datatype": "BYTES", "shape": [2], "data": ["north", "east"]}]}

The contract is the schema the registry signed: every column present exactly once and no
other; numbers (a whole number for a column that held integers) within the column's training
range widened by the gateway's margin (never below zero for a column that was never
negative); a categorical column only one of its training
categories. The accepted rows become cpmap's model rows (numbers min-max scaled in float64,
categories one-hot), what every other control reads; the model decodes them back to its own
columns (:class:`cpmap.models.byo.SchemaModel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.gateway.errors import Refusal

if TYPE_CHECKING:
    from cpmap.gateway.config import GatewayConfig

INPUT_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
NUMERIC_TYPES = frozenset({"FP32", "FP64", "INT32", "INT64"})
MAX_CATEGORY_CHARS = 256


@dataclass(frozen=True)
class Column:
    """One model column: its training range (numbers) or categories, and what is accepted."""

    name: str
    kind: str  # numeric | categorical
    lo: float = 0.0  # accepted range (training range widened by the margin)
    hi: float = 0.0
    min: float = 0.0  # training range itself (for scaling)
    max: float = 0.0
    integer: bool = False
    categories: tuple[str, ...] = ()

    @property
    def datatype(self) -> str:
        if self.kind == "categorical":
            return "BYTES"
        return "INT64" if self.integer else "FP64"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": [-1]}
        if self.kind == "categorical":
            out["parameters"] = {"categories": list(self.categories)}
        else:  # what validation accepts (the client's error message says it anyway)
            out["parameters"] = {"min": self.lo, "max": self.hi}
        return out


@dataclass(frozen=True)
class TableSpec:
    """The named columns of a table model, in the model's order."""

    columns: tuple[Column, ...]

    @property
    def width(self) -> int:
        return sum(1 if c.kind == "numeric" else len(c.categories) for c in self.columns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def from_schema(schema: Mapping[str, Any], margin: float) -> TableSpec:
    """The table contract of a registered feature schema (ranges widened by ``margin``)."""
    cols: list[Column] = []
    for c in schema["columns"]:
        if c["kind"] == "numeric":
            lo, hi = float(c["min"]), float(c["max"])
            span = (hi - lo) * margin
            # a column never negative in training (ages, amounts, ratios) stays non-negative
            low = max(lo - span, 0.0) if lo >= 0 else lo - span
            cols.append(Column(str(c["name"]), "numeric", low, hi + span, lo, hi,
                               bool(c.get("integer", False))))
        else:
            cols.append(Column(str(c["name"]), "categorical",
                               categories=tuple(str(v) for v in c["categories"])))
    return TableSpec(tuple(cols))


def bad(message: str, reason: str = "invalid-input", status: int = 400) -> Refusal:
    return Refusal(status, message, reason)


def parse_columns(inputs: Any, spec: TableSpec, cfg: GatewayConfig) -> np.ndarray:
    """Validate one input per column; the batch as cpmap's float64 model rows ``[n, width]``."""
    if not isinstance(inputs, list) or not inputs:
        raise bad("inputs: must be a list of one input per column: " + ", ".join(spec.names))
    by_name: dict[str, dict[str, Any]] = {}
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            raise bad(f"inputs[{i}]: must be a JSON object")
        extra = sorted(set(tensor) - INPUT_KEYS)
        if extra:
            raise bad(f"inputs[{i}]: unknown field {extra[0][:40]!r}")
        name = tensor.get("name")
        if not isinstance(name, str) or name not in spec.names:
            raise bad(f"inputs[{i}].name: must be one of the model's columns: "
                      + ", ".join(spec.names))
        if name in by_name:
            raise bad(f"inputs[{i}].name: column {name!r} given twice")
        by_name[name] = tensor
    missing = [n for n in spec.names if n not in by_name]
    if missing:
        raise bad(f"inputs: missing column(s) {', '.join(missing[:5])}")
    n = _length(by_name[spec.columns[0].name], spec.columns[0].name, cfg)
    parts = []
    for col in spec.columns:
        tensor = by_name[col.name]
        if _length(tensor, col.name, cfg) != n:
            raise bad(f"input {col.name!r}: shape must be [{n}] like the other columns")
        data = tensor.get("data")
        if not isinstance(data, list) or len(data) != n:
            raise bad(f"input {col.name!r}: data must be a list of {n} values")
        if data and all(type(v) is list and len(v) == 1 for v in data):  # [n, 1] nested
            data = [v[0] for v in data]
        parts.append(_numeric(tensor, data, col) if col.kind == "numeric"
                     else _categorical(tensor, data, col))
    return np.concatenate(parts, axis=1)


def _length(tensor: Mapping[str, Any], name: str, cfg: GatewayConfig) -> int:
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or len(shape) not in (1, 2)
            or any(type(s) is not int for s in shape) or (len(shape) == 2 and shape[1] != 1)):
        raise bad(f"input {name!r}: shape must be [n] (or [n, 1])")
    n = int(shape[0])
    if not 1 <= n <= cfg.max_batch:
        raise bad(f"input {name!r}: batch size must be 1..{cfg.max_batch}", "batch-too-large",
                  413 if n > cfg.max_batch else 400)
    return n


def _numeric(tensor: Mapping[str, Any], data: list[Any], col: Column) -> np.ndarray:
    if tensor.get("datatype") not in NUMERIC_TYPES:
        raise bad(f"input {col.name!r}: datatype must be {col.datatype} (a number column)")
    if any(type(v) not in (int, float) for v in data):
        raise bad(f"input {col.name!r}: every value must be a number")
    try:
        x = np.asarray(data, dtype=np.float64)
    except (OverflowError, ValueError):
        raise bad(f"input {col.name!r}: a number is out of range") from None
    if not np.isfinite(x).all():
        raise bad(f"input {col.name!r}: NaN and infinite values are not allowed")
    if (col.integer or str(tensor["datatype"]).startswith("INT")) and (x != np.round(x)).any():
        raise bad(f"input {col.name!r}: values must be whole numbers")
    if x.min() < col.lo or x.max() > col.hi:
        raise bad(f"input {col.name!r}: values must lie in [{col.lo:g}, {col.hi:g}] (the "
                  "training range with a margin)", "out-of-range")
    span = (col.max - col.min) or 1.0
    scaled: np.ndarray = ((x - col.min) / span)[:, None]
    return scaled


def _categorical(tensor: Mapping[str, Any], data: list[Any], col: Column) -> np.ndarray:
    if tensor.get("datatype") != "BYTES":
        raise bad(f"input {col.name!r}: datatype must be BYTES (one of "
                  f"{', '.join(col.categories)})")
    if any(not isinstance(v, str) or len(v) > MAX_CATEGORY_CHARS for v in data):
        raise bad(f"input {col.name!r}: every value must be a category string")
    index = {c: i for i, c in enumerate(col.categories)}
    unknown = [v for v in data if v not in index]
    if unknown:
        raise bad(f"input {col.name!r}: {unknown[0][:40]!r} is not one of "
                  f"{', '.join(col.categories)}", "unknown-category")
    onehot = np.zeros((len(data), len(col.categories)), np.float64)
    onehot[np.arange(len(data)), [index[v] for v in data]] = 1.0
    return onehot


def to_columns(rows: np.ndarray, spec: TableSpec) -> list[dict[str, Any]]:
    """The named-column inputs of cpmap model rows (what a client would send for them)."""
    out: list[dict[str, Any]] = []
    i = 0
    for col in spec.columns:
        if col.kind == "numeric":
            v = col.min + rows[:, i].astype(np.float64) * ((col.max - col.min) or 1.0)
            v = np.clip(v, col.lo, col.hi)
            data: list[Any] = np.round(v).astype(np.int64).tolist() if col.integer \
                else v.tolist()
            i += 1
        else:
            k = len(col.categories)
            data = [col.categories[j] for j in rows[:, i:i + k].argmax(axis=1)]
            i += k
        out.append({"name": col.name, "datatype": col.datatype, "shape": [len(rows)],
                    "data": data})
    return out
