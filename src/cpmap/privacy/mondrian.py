"""Mondrian multidimensional k-anonymization (LeFevre et al. 2006) with l/t constraints.

The table is split recursively: each partition is cut at the median of the quasi-identifier
with the widest normalized span, and a cut is kept only if both halves still satisfy k (and,
when a sensitive column is named, distinct l-diversity and t-closeness). Each final partition
is released generalized: numbers as exact ``lo..hi`` ranges (``-12..-7``), categories through
a hierarchy from ``cpmap.toml`` or as the set of values present. Optional suppression first
removes the most extreme numeric outliers (at most ``suppress`` of the records), which
otherwise stretch the ranges of whole partitions.

Information loss is reported as NCP (normalized certainty penalty, 0 = original data, 1 =
everything generalized away; suppressed records count 1) and the discernibility metric.

Hierarchies (``cpmap.toml``)::

    [privacy.hierarchies]
    zip = "prefix"                                  # 12345 -> 1234* -> 123** ...
    gender = { F = ["F", "*"], M = ["M", "*"], X = ["X", "*"] }   # value -> ancestors
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cpmap.errors import InputError
from cpmap.privacy.anonymity import exact_codes, ordered_codes

Hierarchy = str | Mapping[str, list[str]]
MAX_SET_LABEL = 6


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool
    values: np.ndarray  # float values, or integer codes into ``domain`` (ordered)
    domain: tuple[str, ...]
    hierarchy: Hierarchy | None


@dataclass(frozen=True)
class Result:
    frame: pd.DataFrame
    partitions: int
    suppressed: int
    ncp: float
    discernibility: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"rows_out": len(self.frame), "partitions": self.partitions,
                "suppressed": self.suppressed, "ncp": round(self.ncp, 6),
                "discernibility": self.discernibility, "seconds": round(self.seconds, 3)}


def _column(frame: pd.DataFrame, name: str, hierarchy: Hierarchy | None) -> Column:
    s = frame[name]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and \
            hierarchy is None:
        if s.isna().any():
            raise InputError(f"--quasi {name}: numeric column has missing values; fill or "
                             "drop them first")
        return Column(name, True, s.to_numpy(dtype=float), (), None)
    text = s.astype(str).fillna("")  # pandas 3 keeps missing values as NaN
    uniq = sorted(text.unique(), key=lambda v: _order_key(v, hierarchy))
    index = {v: i for i, v in enumerate(uniq)}
    return Column(name, False, text.map(index).to_numpy(dtype=np.int64), tuple(uniq), hierarchy)


def _order_key(value: str, hierarchy: Hierarchy | None) -> tuple[Any, ...]:
    if isinstance(hierarchy, Mapping):
        path = list(hierarchy.get(value, [value]))
        return (*reversed(path), value)
    return (value,)


class _Checker:
    """Whether a set of rows may form a partition: k, distinct l, t-closeness."""

    def __init__(self, k: int, l_: int | None, t: float | None, sens: pd.Series | None) -> None:
        self.k, self.l, self.t = k, l_, t
        self.codes: np.ndarray | None = None
        if sens is not None and (l_ is not None or t is not None):
            self.exact = exact_codes(sens)  # l counts exact values
            self.codes, self.ordered = ordered_codes(sens)  # t's distance may bin numbers
            self.m = int(self.codes.max()) + 1
            self.glob = np.bincount(self.codes, minlength=self.m) / len(self.codes)

    def ok(self, rows: np.ndarray) -> bool:
        if len(rows) < self.k:
            return False
        if self.codes is None:
            return True
        if self.l is not None and len(np.unique(self.exact[rows])) < self.l:
            return False
        counts = np.bincount(self.codes[rows], minlength=self.m)
        if self.t is not None and self.t > 0:
            p = counts / len(rows)
            if self.ordered and self.m > 1:
                dist = float(np.abs(np.cumsum(p - self.glob)).sum() / (self.m - 1))
            else:
                dist = float(0.5 * np.abs(p - self.glob).sum())
            if dist > self.t + 1e-12:
                return False
        return True


def _span(col: Column, rows: np.ndarray, full: float) -> float:
    v = col.values[rows]
    if col.numeric:
        return float(v.max() - v.min()) / full if full > 0 else 0.0
    return (len(np.unique(v)) - 1) / full if full > 0 else 0.0


def _split(col: Column, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    v = col.values[rows]
    order = np.argsort(v, kind="stable")
    mid = len(rows) // 2
    pivot = v[order[mid]]
    left = rows[v < pivot]
    right = rows[v >= pivot]
    if len(left) == 0:  # many ties at the median: cut just above it instead
        left, right = rows[v <= pivot], rows[v > pivot]
    if len(left) == 0 or len(right) == 0:
        return None
    return left, right


def partition(cols: list[Column], check: _Checker, n: int) -> list[np.ndarray]:
    full = [float(c.values.max() - c.values.min()) if c.numeric else float(len(c.domain) - 1)
            for c in cols]
    done: list[np.ndarray] = []
    stack = [np.arange(n)]
    while stack:
        rows = stack.pop()
        if len(rows) < 2 * check.k:
            done.append(rows)
            continue
        halves = _best_cut(cols, rows, full, check)
        if halves is None:
            done.append(rows)
        else:
            stack.extend(halves)
    return done


def _best_cut(cols: list[Column], rows: np.ndarray, full: list[float],
              check: _Checker) -> tuple[np.ndarray, np.ndarray] | None:
    """The median cut on the widest dimension that keeps both halves valid, if any."""
    spans = [_span(c, rows, f) for c, f in zip(cols, full, strict=True)]
    for i in np.argsort(spans)[::-1]:
        if spans[i] <= 0:
            return None
        halves = _split(cols[i], rows)
        if halves is not None and check.ok(halves[0]) and check.ok(halves[1]):
            return halves
    return None


def exact(value: float) -> str:
    """A number as written, never rounded: ``1234567`` (not ``1.23457e+06``), ``-12``, ``0.1``
    (the shortest text that reads back as the same float)."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _label(col: Column, rows: np.ndarray) -> tuple[str, float]:
    """Generalized value of ``col`` over ``rows`` and its normalized certainty penalty."""
    v = col.values[rows]
    if col.numeric:
        lo, hi = float(v.min()), float(v.max())
        full = float(col.values.max() - col.values.min())
        text = exact(lo) if lo == hi else f"{exact(lo)}..{exact(hi)}"
        return text, (hi - lo) / full if full > 0 else 0.0
    present = [col.domain[i] for i in np.unique(v)]
    size = len(col.domain)
    if col.hierarchy == "prefix":
        return _prefix_label(present, col.domain)
    if isinstance(col.hierarchy, Mapping):
        return _tree_label(present, col.hierarchy, col.domain)
    if len(present) == 1:
        return present[0], 0.0
    text = "|".join(present) if len(present) <= MAX_SET_LABEL else \
        f"{present[0]}..{present[-1]} ({len(present)} values)"
    return "{" + text + "}", (len(present) - 1) / (size - 1)


def _prefix_label(present: list[str], domain: tuple[str, ...]) -> tuple[str, float]:
    first, last = min(present), max(present)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    prefix = first[:n]
    width = max(len(p) for p in present)
    covered = sum(1 for d in domain if d.startswith(prefix))
    size = len(domain)
    return prefix + "*" * (width - n), (covered - 1) / (size - 1) if size > 1 else 0.0


def _tree_label(present: list[str], tree: Mapping[str, list[str]],
                domain: tuple[str, ...]) -> tuple[str, float]:
    size = len(domain)
    if len(present) == 1:
        return present[0], 0.0
    paths = [list(tree.get(p, [p])) for p in present]
    depth = min(len(p) for p in paths)
    for level in range(depth):
        names = {p[level] for p in paths}
        if len(names) == 1:
            name = names.pop()
            covered = sum(1 for d in domain if level < len(tree.get(d, [d]))
                          and tree.get(d, [d])[level] == name)
            return name, (covered - 1) / (size - 1) if size > 1 else 0.0
    return "*", 1.0


def _suppress(cols: list[Column], n: int, k: int, share: float) -> np.ndarray:
    """Rows to drop: rare categories (fewer than k records) first, then numeric outliers."""
    budget = int(math.floor(share * n))
    if budget <= 0:
        return np.zeros(n, dtype=bool)
    score = np.zeros(n)
    for c in cols:
        if c.numeric:
            ranks = pd.Series(c.values).rank(pct=True).to_numpy()
            score = np.maximum(score, np.abs(ranks - 0.5))
        else:
            counts = np.bincount(c.values)
            score = np.maximum(score, np.where(counts[c.values] < k, 1.0, 0.0))
    order = np.argsort(-score, kind="stable")[:budget]
    out = np.zeros(n, dtype=bool)
    out[order[score[order] > 0.45]] = True  # only real outliers, never the bulk
    return out


def anonymize(frame: pd.DataFrame, quasi: list[str], k: int, *, l_: int | None = None,
              t: float | None = None, sensitive: str | None = None,
              hierarchies: Mapping[str, Hierarchy] | None = None,
              suppress: float = 0.0) -> Result:
    """Generalize ``quasi`` so that every class has >= k records (and l, t when asked)."""
    import time

    start = time.perf_counter()
    if k < 1:
        raise InputError(f"--k {k}: must be >= 1")
    if (l_ is not None or t is not None) and sensitive is None:
        raise InputError("--l/--t need --sensitive: the column whose values must stay diverse")
    if not 0 <= suppress < 0.5:
        raise InputError(f"--suppress {suppress}: must be in [0, 0.5)")
    if t is not None and not 0 <= t <= 1:  # also refuses NaN
        raise InputError(f"--t {t}: must be in [0, 1]")
    hier = dict(hierarchies or {})
    cols = [_column(frame, q, hier.get(q)) for q in quasi]
    dropped = _suppress(cols, len(frame), k, suppress)
    kept = frame.loc[~dropped].reset_index(drop=True)
    cols = [_column(kept, q, hier.get(q)) for q in quasi]
    check = _Checker(k, l_, t, kept[sensitive] if sensitive else None)
    if not check.ok(np.arange(len(kept))):
        raise InputError(f"the table ({len(kept)} rows) cannot satisfy k={k}"
                         + (f", l={l_}" if l_ else "") + (f", t={t}" if t else "")
                         + " even as a single class")
    parts = partition(cols, check, len(kept))
    out = kept.copy()
    ncp = np.zeros(len(kept))
    for c in cols:
        labels = np.empty(len(kept), dtype=object)
        for rows in parts:
            text, loss = _label(c, rows)
            labels[rows] = text
            ncp[rows] += loss
        out[c.name] = labels
    n_sup = int(dropped.sum())
    total = len(frame)
    mean_ncp = (float(ncp.sum()) / len(cols) + n_sup) / total
    disc = float(sum(len(p) ** 2 for p in parts) + n_sup * total)
    return Result(out, len(parts), n_sup, mean_ncp, disc, time.perf_counter() - start)


def hierarchies_from(config: Any) -> dict[str, Hierarchy]:
    """``[privacy.hierarchies]`` of cpmap.toml, validated."""
    if not config:
        return {}
    if not isinstance(config, Mapping):
        raise InputError("cpmap.toml [privacy.hierarchies]: must be a table")
    out: dict[str, Hierarchy] = {}
    for name, h in config.items():
        if h == "prefix":
            out[name] = "prefix"
        elif isinstance(h, Mapping) and all(isinstance(v, list) and v for v in h.values()):
            out[name] = {str(key): [str(x) for x in v] for key, v in h.items()}
        else:
            raise InputError(f"cpmap.toml [privacy.hierarchies] {name}: use \"prefix\" or "
                             "{ value = [\"level1\", \"level2\", ...] }")
    return out
