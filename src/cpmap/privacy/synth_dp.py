"""The DP fit of the Gaussian copula: released marginals first, then bounded-sensitivity scores.

Privacy argument (neighbours: one record added or removed):

1. Each modelled column's marginal is an OpenDP Laplace histogram over its *public* domain
   (equal-width bins of ``bounds``, or the ``categories`` list), with ``epsilon / 2 / d``
   each. Every cell is mapped on its own (:mod:`cpmap.privacy.records`), so one record moves
   one count: sensitivity 1.
2. Each record's normal score in a column is a function of that record's cell and the
   *released* marginal only: ``z = ppf(F(x))`` with ``F`` the noisy CDF (numbers: linear
   inside a bin; categories: the middle of the category's CDF interval; a missing or unlisted
   value scores 0). No rank, no count of the data enters, so adding a record leaves every
   other record's score unchanged.
3. The correlation of columns i and j is released as the OpenDP Laplace sum of
   ``clip(z_i) * clip(z_j)`` (scores clipped to ``[-CLIP, CLIP]``) with ``epsilon / 2 /
   pairs``; one record changes that sum by at most ``CLIP**2 = 9``, the sensitivity OpenDP
   calibrates for. Dividing by the released count and standardizing with the score moments
   the released marginals imply (:func:`score_moments`) are post-processing.

(The earlier fit scored by exact ranks over the exact n: one record shifted every rank and
moved a sum by up to 17.05 measured, about 1.9x the assumed 9.
``tests/privacy/test_synth_sensitivity.py`` measures the bound on neighbouring datasets.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cpmap.errors import InputError
from cpmap.privacy.records import categorize, numbers

BINS = 32
CLIP = 3.0
U_EPS = 1e-6


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


def nearest_corr(c: np.ndarray) -> np.ndarray:
    """Project a symmetric matrix onto valid correlation matrices (eigenvalue clipping)."""
    c = (c + c.T) / 2
    w, v = np.linalg.eigh(c)
    c = (v * np.maximum(w, 1e-6)) @ v.T
    d = np.sqrt(np.diag(c))
    out: np.ndarray = c / np.outer(d, d)
    return out


def bin_index(cells: list[Any], bounds: tuple[float, float]) -> np.ndarray:
    """Each cell's bin among ``BINS`` equal-width bins of the public bounds (clamped)."""
    lo, hi = bounds
    v = np.clip(np.asarray(numbers(cells), dtype=float), lo, hi)
    edges = np.linspace(lo, hi, BINS + 1)
    return np.asarray(np.clip(np.digitize(v, edges[1:-1]), 0, BINS - 1))


def dp_marginal(cells: list[Any], name: str, eps: float, bounds: tuple[float, float] | None,
                categories: tuple[str, ...] | None, integer: bool) -> tuple[Marginal, float]:
    """(marginal from a noisy histogram over the public domain, its noisy row count)."""
    from cpmap.privacy.dp import noisy_histogram

    if bounds is not None:
        cats = tuple(str(i) for i in range(BINS))
        idx = bin_index(cells, bounds)
        counts = np.maximum(np.array(noisy_histogram([str(i) for i in idx], cats, eps)[:-1],
                                     dtype=float), 0)
        cdf = np.concatenate([[0.0], np.cumsum(counts)])
        probs = cdf / cdf[-1] if cdf[-1] > 0 else np.linspace(0, 1, BINS + 1)
        edges = np.linspace(bounds[0], bounds[1], BINS + 1)
        return Marginal(name, True, integer, edges, probs), float(counts.sum())
    if not categories:
        raise InputError(f"--epsilon: column {name!r} needs a public domain: "
                         f"--bounds {name}=LO,HI or --categories {name}=a,b,c")
    counts = np.maximum(np.array(noisy_histogram(categorize(cells, categories), categories,
                                                 eps)[:-1], dtype=float), 0)
    total = counts.sum()
    p = counts / total if total > 0 else np.full(len(counts), 1 / len(counts))
    # levels are the public strings: their type never depends on the data
    return Marginal(name, False, False, np.cumsum(p), np.empty(0), tuple(categories)), \
        float(total)


def scores(cells: list[Any], m: Marginal) -> np.ndarray:
    """Each record's normal score under the *released* marginal ``m`` (per record)."""
    if m.numeric:
        lo, hi = float(m.grid[0]), float(m.grid[-1])
        v = np.clip(np.asarray(numbers(cells), dtype=float), lo, hi)
        u = np.interp(v, m.grid, m.probs)
    else:
        index = {c: i for i, c in enumerate(m.levels)}
        cats = categorize(cells, tuple(m.levels))
        idx = np.array([index.get(c, -1) for c in cats], dtype=int)
        upper = m.grid[np.maximum(idx, 0)]
        lower = np.where(idx > 0, m.grid[np.maximum(idx - 1, 0)], 0.0)
        u = np.where(idx >= 0, (lower + upper) / 2, 0.5)  # unlisted or missing: score 0
    return np.asarray(stats.norm.ppf(np.clip(u, U_EPS, 1 - U_EPS)))


def score_moments(m: Marginal) -> tuple[float, float]:
    """(mean, standard deviation) of a record's clipped score if records follow the released
    marginal ``m``: turns the noisy sums into correlations (post-processing, no data)."""
    if m.numeric:  # F(x) is uniform under the marginal: the score is a clipped N(0, 1)
        inside = 2 * stats.norm.cdf(CLIP) - 1 - 2 * CLIP * stats.norm.pdf(CLIP)
        return 0.0, float(np.sqrt(inside + CLIP**2 * 2 * stats.norm.sf(CLIP)))
    p = np.diff(np.concatenate([[0.0], m.grid]))
    mid = np.concatenate([[0.0], m.grid[:-1]]) + p / 2
    z = np.clip(stats.norm.ppf(np.clip(mid, U_EPS, 1 - U_EPS)), -CLIP, CLIP)
    mean = float(np.sum(p * z))
    return mean, float(np.sqrt(max(float(np.sum(p * z * z)) - mean**2, 0.0)))


def score_sums(z: np.ndarray) -> np.ndarray:
    """The quantity the correlation release noises: per pair, the sum of clipped products."""
    zc = np.clip(z, -CLIP, CLIP)
    d = z.shape[1]
    return np.array([float(np.sum(zc[:, i] * zc[:, j])) for i in range(d)
                     for j in range(i + 1, d)])


def dp_corr(z: np.ndarray, eps: float, n_noisy: float,
            moments: list[tuple[float, float]] | None = None) -> np.ndarray:
    """Noisy correlations of the scores (OpenDP Laplace sums, sensitivity ``CLIP**2``),
    standardized with the released marginals' score ``moments`` when given."""
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

    def make(s: float) -> Any:
        return (dp.t.make_clamp(dom, dp.symmetric_distance(), bounds=b) >> dp.t.then_sum()
                >> dp.m.then_laplace(s))

    meas = make(dp.binary_search_param(make, d_in=1, d_out=eps / len(pairs)))
    mom = moments or [(0.0, 1.0)] * d
    for i, j in pairs:
        r = float(meas([float(x) for x in zc[:, i] * zc[:, j]])) / max(n_noisy, 1.0)
        (mi, si), (mj, sj) = mom[i], mom[j]
        if si > 0.05 and sj > 0.05:  # a (nearly) constant column keeps the raw mean product
            r = (r - mi * mj) / (si * sj)
        corr[i, j] = corr[j, i] = float(np.clip(r, -0.99, 0.99))
    return nearest_corr(corr)


def fit_dp(data: pd.DataFrame, epsilon: float, bounds: Mapping[str, tuple[float, float]],
           categories: Mapping[str, tuple[str, ...]], integers: frozenset[str]
           ) -> tuple[list[Marginal], np.ndarray]:
    """(released marginals, released correlation) of ``data``'s columns (cells as text)."""
    each = epsilon / 2 / data.shape[1]
    margs, counts = [], []
    for c in data.columns:
        m, n = dp_marginal(data[c].tolist(), str(c), each, bounds.get(str(c)),
                           categories.get(str(c)), str(c) in integers)
        margs.append(m)
        counts.append(n)
    z = np.column_stack([scores(data[c].tolist(), m) for c, m in zip(data.columns, margs,
                                                                     strict=True)])
    return margs, dp_corr(z, epsilon / 2, float(np.median(counts)),
                          [score_moments(m) for m in margs])
