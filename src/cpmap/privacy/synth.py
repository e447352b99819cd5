"""A seeded Gaussian-copula synthesizer for mixed numeric/categorical tables, optionally DP.

Fit: each column is mapped to normal scores through its marginal (numbers by rank, categories
by a random point inside the category's CDF interval); the correlation of the scores is the
copula. Sample: draw correlated normals, map each back through its marginal's inverse CDF.

With ``epsilon`` the fit is differentially private (the whole table is the unit; one record
added or removed): half the budget releases every marginal as an OpenDP Laplace histogram
over a *public* domain (``bounds`` for numbers, split in equal-width bins; ``categories`` for
the rest, because reading either from the data would leak), the other half releases the
correlations as noisy sums of clipped score products. Without ``epsilon`` marginals are exact
empirical quantiles, which can reproduce real values: evaluate with ``evaluate-synthetic``.

Direct identifiers (columns the PII engine classifies as e-mail, card, SSN...) and
identifier-like columns (text with more distinct values than half the rows, or than 200) are
never modelled: they are dropped and listed in the result. With ``epsilon`` exactly the
columns given a public domain are modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cpmap.errors import InputError

BINS = 32
CLIP = 3.0
MAX_CATEGORIES = 200
DISCRETE_MAX = 15


@dataclass(frozen=True)
class Marginal:
    name: str
    numeric: bool
    integer: bool
    # numeric: ``grid`` holds the values at quantiles ``probs``; categorical: ``grid`` holds
    # the cumulative probabilities of ``levels``.
    grid: np.ndarray
    probs: np.ndarray
    levels: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Model:
    marginals: tuple[Marginal, ...]
    corr: np.ndarray
    dropped: tuple[str, ...]
    epsilon: float | None
    rows_fit: int
    columns: tuple[str, ...] = field(default=())


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                and s.nunique() > DISCRETE_MAX)


def _exact_marginal(s: pd.Series) -> Marginal:
    if _is_numeric(s):
        v = s.dropna().to_numpy(dtype=float)
        probs = np.linspace(0, 1, min(len(v), 1001))
        return Marginal(str(s.name), True, pd.api.types.is_integer_dtype(s),
                        np.quantile(v, probs), probs)
    freq = s.astype(str).value_counts(normalize=True, sort=False).sort_index()
    levels = tuple(_restore(s, freq.index))
    return Marginal(str(s.name), False, False, np.cumsum(freq.to_numpy()), np.empty(0), levels)


def _restore(s: pd.Series, labels: pd.Index) -> list[Any]:
    """Category labels back in the column's type (ints stay ints)."""
    if pd.api.types.is_integer_dtype(s):
        return [int(x) for x in labels]
    if pd.api.types.is_float_dtype(s):
        return [float(x) for x in labels]
    return list(labels)


def _dp_marginal(s: pd.Series, eps: float, bounds: tuple[float, float] | None,
                 categories: tuple[str, ...] | None) -> tuple[Marginal, float]:
    """(marginal from a noisy histogram over the public domain, noisy row count)."""
    from cpmap.privacy.dp import noisy_histogram

    if bounds is not None:
        lo, hi = bounds
        edges = np.linspace(lo, hi, BINS + 1)
        idx = np.clip(np.digitize(pd.to_numeric(s, errors="coerce").fillna(lo).clip(lo, hi),
                                  edges[1:-1]), 0, BINS - 1)
        cats = tuple(str(i) for i in range(BINS))
        counts = np.maximum(np.array(noisy_histogram([str(i) for i in idx], cats, eps)[:-1],
                                     dtype=float), 0)
        cdf = np.concatenate([[0.0], np.cumsum(counts)])
        probs = cdf / cdf[-1] if cdf[-1] > 0 else np.linspace(0, 1, BINS + 1)
        integer = bool(pd.api.types.is_integer_dtype(s))
        return Marginal(str(s.name), True, integer, edges, probs), float(counts.sum())
    if not categories:
        raise InputError(f"--epsilon: column {s.name!r} needs a public domain: "
                         f"--bounds {s.name}=LO,HI or --categories {s.name}=a,b,c")
    counts = np.maximum(np.array(noisy_histogram(s.astype(str).tolist(), categories, eps)[:-1],
                                 dtype=float), 0)
    total = counts.sum()
    p = counts / total if total > 0 else np.full(len(counts), 1 / len(counts))
    levels = tuple(_restore(s, pd.Index(categories)))
    return Marginal(str(s.name), False, False, np.cumsum(p), np.empty(0), levels), float(total)


def _scores(s: pd.Series, m: Marginal, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of a column under its marginal (the copula's input)."""
    if m.numeric:
        u = (s.rank(method="average").to_numpy() - 0.5) / len(s)
    else:
        lookup = {str(lv): i for i, lv in enumerate(m.levels)}
        idx = s.astype(str).map(lookup).fillna(0).to_numpy(dtype=int)
        upper = m.grid[idx]
        lower = np.where(idx > 0, m.grid[np.maximum(idx - 1, 0)], 0.0)
        u = lower + rng.random(len(s)) * (upper - lower)
    return np.asarray(stats.norm.ppf(np.clip(u, 1e-6, 1 - 1e-6)))


def _nearest_corr(c: np.ndarray) -> np.ndarray:
    """Project a symmetric matrix onto valid correlation matrices (eigenvalue clipping)."""
    c = (c + c.T) / 2
    w, v = np.linalg.eigh(c)
    c = (v * np.maximum(w, 1e-6)) @ v.T
    d = np.sqrt(np.diag(c))
    out: np.ndarray = c / np.outer(d, d)
    return out


def _dp_corr(z: np.ndarray, eps: float, n_noisy: float) -> np.ndarray:
    from cpmap.privacy.dp import opendp

    dp = opendp()
    d = z.shape[1]
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    corr = np.eye(d)
    if not pairs:
        return corr
    zc = np.clip(z, -CLIP, CLIP)
    dom = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    b = (-CLIP * CLIP, CLIP * CLIP)
    per = eps / len(pairs)
    scale = dp.binary_search_param(
        lambda s: dp.t.make_clamp(dom, dp.symmetric_distance(), bounds=b) >> dp.t.then_sum()
        >> dp.m.then_laplace(s), d_in=1, d_out=per)
    meas = (dp.t.make_clamp(dom, dp.symmetric_distance(), bounds=b) >> dp.t.then_sum()
            >> dp.m.then_laplace(scale))
    for i, j in pairs:
        r = float(meas([float(x) for x in zc[:, i] * zc[:, j]])) / max(n_noisy, 1.0)
        corr[i, j] = corr[j, i] = float(np.clip(r, -0.99, 0.99))
    return _nearest_corr(corr)


def fit(frame: pd.DataFrame, *, epsilon: float | None = None, seed: int = 0,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        categories: Mapping[str, tuple[str, ...]] | None = None) -> Model:
    """Fit the copula (DP when ``epsilon`` is given: needs public bounds/categories)."""
    if frame.empty:
        raise InputError("cannot synthesize from an empty table")
    rng = np.random.default_rng(seed)
    if epsilon is None:
        pii = set(pii_columns(frame))
        dropped = tuple(str(c) for c in frame.columns if str(c) in pii or (
            not _is_numeric(frame[c])
            and frame[c].astype(str).nunique() > min(MAX_CATEGORIES, len(frame) // 2)))
    else:  # DP: model exactly the columns with a public domain (a data-independent choice)
        public = set(bounds or {}) | set(categories or {})
        dropped = tuple(str(c) for c in frame.columns if str(c) not in public)
    data = frame.drop(columns=list(dropped))
    if data.shape[1] == 0:
        raise InputError("no column left to model: every column looks like an identifier")
    margs: list[Marginal] = []
    n_noisy = float(len(data))
    if epsilon is None:
        margs = [_exact_marginal(data[c]) for c in data.columns]
    else:
        each = epsilon / 2 / data.shape[1]
        counts = []
        for c in data.columns:
            m, n = _dp_marginal(data[c], each, (bounds or {}).get(str(c)),
                                (categories or {}).get(str(c)))
            margs.append(m)
            counts.append(n)
        n_noisy = float(np.median(counts))
    z = np.column_stack([_scores(data[c], m, rng) for c, m in zip(data.columns, margs,
                                                                 strict=True)])
    if epsilon is None:
        corr = _nearest_corr(np.nan_to_num(np.corrcoef(z, rowvar=False)) if z.shape[1] > 1
                             else np.eye(1))
    else:
        corr = _dp_corr(z, epsilon / 2, n_noisy)
    return Model(tuple(margs), corr, dropped, epsilon, len(frame), tuple(map(str, data.columns)))


def _inverse(m: Marginal, u: np.ndarray) -> np.ndarray:
    if m.numeric:
        v: np.ndarray = np.asarray(np.interp(u, m.probs, m.grid))
        return np.round(v) if m.integer else v
    idx = np.minimum(np.searchsorted(m.grid, u, side="right"), len(m.levels) - 1)
    return np.asarray(m.levels, dtype=object)[idx]


def sample(model: Model, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` synthetic records, reproducible from ``seed``."""
    if rows < 1:
        raise InputError(f"--rows {rows}: must be >= 1")
    rng = np.random.default_rng(seed + 1)
    z = rng.multivariate_normal(np.zeros(len(model.marginals)), model.corr, size=rows,
                                method="cholesky")
    u = stats.norm.cdf(z)
    out = {m.name: _inverse(m, u[:, i]) for i, m in enumerate(model.marginals)}
    frame = pd.DataFrame(out)
    for m in model.marginals:
        if m.numeric and m.integer:
            frame[m.name] = frame[m.name].astype("int64")
        elif not m.numeric:
            frame[m.name] = frame[m.name].infer_objects()
    return frame


def pii_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    """Columns holding direct identifiers (the PII engine on a sample): never synthesized."""
    from cpmap.privacy.columns import classify
    from cpmap.privacy.detect import RegexAnalyzer
    from cpmap.privacy.entities import DIRECT

    head = frame.head(2000)
    analyzer = RegexAnalyzer()
    out = []
    for c in head.columns:
        res = classify(str(c), head[c], analyzer)
        if res.pii and res.entity in DIRECT:
            out.append(str(c))
    return tuple(out)
