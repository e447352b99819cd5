"""A seeded Gaussian-copula synthesizer for mixed numeric/categorical tables, optionally DP.

Fit: each column is mapped to normal scores through its marginal (numbers by rank, categories
by a random point inside the category's CDF interval); the correlation of the scores is the
copula. Sample: draw correlated normals, map each back through its marginal's inverse CDF.

With ``epsilon`` the fit is differentially private (the whole table is the unit; one record
added or removed): half the budget releases every marginal as an OpenDP Laplace histogram
over a *public* domain (``bounds`` for numbers, split in equal-width bins; ``categories`` for
the rest, because reading either from the data would leak), the other half releases the
correlations as noisy sums of clipped score products, each record scored through the
*released* marginals so that one record moves each sum by at most 9 (:mod:`synth_dp`).
Without ``epsilon`` marginals are exact
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
from cpmap.privacy.synth_dp import Marginal, fit_dp, nearest_corr

MAX_CATEGORIES = 200
DISCRETE_MAX = 15


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


def fit(frame: pd.DataFrame, *, epsilon: float | None = None, seed: int = 0,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        categories: Mapping[str, tuple[str, ...]] | None = None,
        integers: frozenset[str] = frozenset()) -> Model:
    """Fit the copula (DP when ``epsilon`` is given: needs public bounds/categories).

    With ``epsilon``, read ``frame`` as text (:func:`cpmap.privacy.records.load_text`): every
    cell is mapped on its own against the public domain; ``integers`` (public too) are the
    numeric columns sampled as whole numbers.
    """
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
    if epsilon is not None:
        margs, corr = fit_dp(data, epsilon, bounds or {}, categories or {}, integers)
        return Model(tuple(margs), corr, dropped, epsilon, len(frame),
                     tuple(map(str, data.columns)))
    margs = [_exact_marginal(data[c]) for c in data.columns]
    z = np.column_stack([_scores(data[c], m, rng) for c, m in zip(data.columns, margs,
                                                                 strict=True)])
    corr = nearest_corr(np.nan_to_num(np.corrcoef(z, rowvar=False)) if z.shape[1] > 1
                         else np.eye(1))
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
