"""Per-feature two-sample tests, chosen by type, each with its effect size.

numeric: Kolmogorov-Smirnov (the p-value) with the Wasserstein distance in units of the
reference's standard deviation (the effect); categorical: the G-test of the 2 x k contingency
table (categories seen on either side, so unseen categories count; rare ones pooled so the
asymptotics hold) with PSI and the Jensen-Shannon distance (the effect); missing values: a
two-proportion test of the missing rate whenever either side has any. Too few rows: no verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from cpmap.drift.policy import DriftPolicy

EPS = 1e-4  # PSI smoothing of empty bins


@dataclass(frozen=True)
class FeatureResult:
    """One test of one feature; ``drift`` is None when there is no verdict (too few rows)."""

    name: str
    kind: str  # "numeric" | "categorical"
    test: str
    statistic: float | None
    p_value: float | None
    effect: float | None
    effect_name: str
    n_reference: int
    n_current: int
    p_adjusted: float | None = None
    drift: bool | None = None
    reason: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "test": self.test,
                "statistic": _r(self.statistic), "p_value": _r(self.p_value),
                "p_adjusted": _r(self.p_adjusted), "effect": _r(self.effect),
                "effect_name": self.effect_name, "drift": self.drift,
                "n_reference": self.n_reference, "n_current": self.n_current,
                "reason": self.reason, **{k: _r(v) for k, v in self.extra.items()}}


def _r(v: Any) -> Any:
    return float(f"{v:.6g}") if isinstance(v, float) else v


def _too_few(name: str, kind: str, test: str, effect: str, n_ref: int, n_cur: int,
             policy: DriftPolicy) -> FeatureResult:
    return FeatureResult(name, kind, test, None, None, None, effect, n_ref, n_cur,
                         reason=f"no verdict: {min(n_ref, n_cur)} rows < {policy.min_rows}")


def numeric(name: str, ref: np.ndarray, cur: np.ndarray, policy: DriftPolicy) -> FeatureResult:
    """KS on the non-missing values, Wasserstein / reference std as the effect."""
    r, c = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if min(len(r), len(c)) < policy.min_rows:
        return _too_few(name, "numeric", "ks", "wasserstein/std", len(r), len(c), policy)
    d, w, p = ks_wasserstein(r, c)
    effect = relative_effect(w, float(np.std(r)), float(np.std(c)))
    return FeatureResult(name, "numeric", "ks", d, p, effect,
                         "wasserstein/std", len(r), len(c),
                         extra={"wasserstein": w, "mean_reference": float(np.mean(r)),
                                "mean_current": float(np.mean(c))})


def relative_effect(w: float, std_ref: float, std_cur: float) -> float:
    """Wasserstein distance in reference standard deviations; a column constant in the
    reference is measured in the current side's spread, and one constant on both sides that
    moved counts as a full effect (1.0), so the effect stays finite (JSON, the ledger)."""
    if std_ref > 0:
        return w / std_ref
    if std_cur > 0:
        return w / std_cur
    return 0.0 if w == 0 else 1.0


def ks_wasserstein(r: np.ndarray, c: np.ndarray) -> tuple[float, float, float]:
    """KS statistic, Wasserstein distance and the KS p-value from one pass over the sorted
    samples (scipy sorts each twice, once per statistic). Small samples (n*m <= 1e8) get
    scipy's exact p-value; large ones the asymptotic Kolmogorov distribution."""
    a, b = np.sort(r), np.sort(c)
    both = np.sort(np.concatenate([a, b]), kind="stable")  # two sorted runs: a merge
    fa = np.searchsorted(a, both, side="right") / len(a)
    fb = np.searchsorted(b, both, side="right") / len(b)
    gap = np.abs(fa - fb)
    d = float(gap.max()) if len(gap) else 0.0
    w = float(np.sum(gap[:-1] * np.diff(both)))
    if len(a) * len(b) <= 10_000 ** 2:
        p = float(stats.ks_2samp(a, b).pvalue)
    else:
        en = len(a) * len(b) / (len(a) + len(b))
        p = float(stats.kstwobign.sf(np.sqrt(en) * d))
    return d, w, p


def counts(values: Sequence[Any] | np.ndarray) -> dict[str, int]:
    """Category counts (missing values left out), keys as strings."""
    import pandas as pd

    vc = pd.Series(values).value_counts(dropna=True)  # count first, stringify the few keys
    out: dict[str, int] = {}
    for k, v in vc.items():
        out[str(k)] = out.get(str(k), 0) + int(v)
    return out


def categorical(name: str, ref: Mapping[str, int], cur: Mapping[str, int],
                policy: DriftPolicy) -> FeatureResult:
    """G-test on the union of categories (rare ones pooled), PSI and JS distance."""
    cats = sorted(set(ref) | set(cur))
    a = np.array([ref.get(k, 0) for k in cats], dtype=float)
    b = np.array([cur.get(k, 0) for k in cats], dtype=float)
    n_ref, n_cur = int(a.sum()), int(b.sum())
    if min(n_ref, n_cur) < policy.min_rows:
        return _too_few(name, "categorical", "g-test", "jensen-shannon", n_ref, n_cur, policy)
    unseen = int(sum(b[i] for i, k in enumerate(cats) if ref.get(k, 0) == 0))
    pa, pb = a / n_ref, b / n_cur
    js = float(jensenshannon(pa, pb, base=2))
    psi = float(np.sum((pb + EPS - pa - EPS) * np.log((pb + EPS) / (pa + EPS))))
    table = _pooled(np.vstack([a, b]), policy.min_expected)
    extra = {"psi": psi, "categories": len(cats), "unseen_current": unseen}
    if table.shape[1] < 2:
        return FeatureResult(name, "categorical", "g-test", 0.0, 1.0, js, "jensen-shannon",
                             n_ref, n_cur, extra=extra)
    g, p, _dof, _exp = stats.chi2_contingency(table, correction=False,
                                              lambda_="log-likelihood")
    return FeatureResult(name, "categorical", "g-test", float(g), float(p), js,
                         "jensen-shannon", n_ref, n_cur, extra=extra)


def _pooled(table: np.ndarray, min_expected: float) -> np.ndarray:
    """Columns whose smallest expected count is under ``min_expected`` merged into one."""
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    rare = expected.min(axis=0) < min_expected
    if not rare.any():
        return table
    kept = table[:, ~rare]
    other = table[:, rare].sum(axis=1, keepdims=True)
    return np.hstack([kept, other]) if other.sum() > 0 else kept


def missing_rate(name: str, miss_ref: int, n_ref: int, miss_cur: int, n_cur: int,
                 policy: DriftPolicy) -> FeatureResult | None:
    """Fisher's exact test of the missing rates (None when neither side misses anything)."""
    if miss_ref == 0 and miss_cur == 0:
        return None
    if min(n_ref, n_cur) < policy.min_rows:
        return _too_few(f"{name} [missing]", "missing", "fisher", "rate difference", n_ref,
                        n_cur, policy)
    table = [[miss_ref, n_ref - miss_ref], [miss_cur, n_cur - miss_cur]]
    if n_ref + n_cur > 20_000:
        _c, p, _d, _e = stats.chi2_contingency(table, correction=False)
        test = "chi-square"
    else:
        p = stats.fisher_exact(table).pvalue
        test = "fisher"
    diff = miss_cur / n_cur - miss_ref / n_ref
    return FeatureResult(f"{name} [missing]", "missing", test, diff, float(p), abs(diff),
                         "rate difference", n_ref, n_cur,
                         extra={"missing_reference": miss_ref / n_ref,
                                "missing_current": miss_cur / n_cur})


def adjust(p: np.ndarray, policy: DriftPolicy) -> np.ndarray:
    """The p-values corrected for testing them all (BH by default)."""
    if policy.correction == "bh" and len(p):
        out: np.ndarray = stats.false_discovery_control(p, method="bh")
        return out
    if policy.correction == "bonferroni":
        capped: np.ndarray = np.minimum(1.0, p * len(p))
        return capped
    return p


def decide(results: Sequence[FeatureResult], policy: DriftPolicy,
           joint_p: float | None = None) -> tuple[list[FeatureResult], float | None]:
    """Adjust the p-values across all features and the joint test (BH by default) and set
    each verdict; the joint test's adjusted p-value is returned with them.

    A missing-rate test drifts on significance and a change of at least 1 point; the others on
    significance and ``min_effect``. Correcting the joint test in the same family keeps the
    chance of any alarm on clean data at ``alpha``.
    """
    tested = [i for i, r in enumerate(results) if r.p_value is not None]
    p = np.array([results[i].p_value for i in tested]
                 + ([joint_p] if joint_p is not None else []), dtype=float)
    adj = adjust(p, policy)
    joint = float(adj[-1]) if joint_p is not None else None
    out = list(results)
    for i, q in zip(tested, adj[:len(tested)], strict=True):
        r = results[i]
        floor = 0.01 if r.kind == "missing" else policy.min_effect
        big = r.effect is not None and r.effect >= floor
        out[i] = replace(r, p_adjusted=float(q), drift=bool(q < policy.alpha and big))
    return out, joint
