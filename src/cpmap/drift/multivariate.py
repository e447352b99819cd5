"""The multivariate test: a domain classifier told to tell reference rows from current ones.

Per-feature tests are blind to a change of the joint distribution that leaves every marginal
alone (two features that become correlated). A gradient-boosted classifier is trained on half
of a balanced sample of both sides and scores the other half; under "no change" the held-out
scores of the two sides are exchangeable, so the one-sided Mann-Whitney U test of "current
rows score higher" is an exact-level test, and its AUC is the effect (0.5: indistinguishable).
The features that carry the classifier are reported by permutation importance on the held-out
half.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from cpmap.drift.policy import DriftPolicy


@dataclass(frozen=True)
class MultivariateResult:
    test: str
    auc: float | None
    p_value: float | None
    drift: bool | None
    rows: int
    top_features: tuple[str, ...] = ()
    reason: str = ""
    p_adjusted: float | None = None

    def judged(self, p_adjusted: float | None, policy: DriftPolicy) -> MultivariateResult:
        """The verdict after the correction: significant and an AUC gain of
        ``min_auc_gain`` over 0.5 (a classifier that barely tells the sides apart is not
        drift on a large sample)."""
        if p_adjusted is None or self.auc is None:
            return self
        drift = p_adjusted < policy.alpha and self.auc - 0.5 >= policy.min_auc_gain
        return replace(self, p_adjusted=float(f"{p_adjusted:.6g}"), drift=drift,
                       top_features=self.top_features if drift else ())

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "auc": self.auc, "p_value": self.p_value,
                "p_adjusted": self.p_adjusted,
                "drift": self.drift, "rows_per_side": self.rows,
                "top_features": list(self.top_features), "reason": self.reason}


def sample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` rows of ``x``, seeded, without replacement."""
    if len(x) <= n:
        return x
    idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
    return x[np.sort(idx)]


def domain_classifier(ref: np.ndarray, cur: np.ndarray, names: tuple[str, ...],
                      policy: DriftPolicy) -> MultivariateResult:
    """The test on numeric matrices (NaN allowed: the classifier handles missing values)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    n = min(len(ref), len(cur), policy.multivariate_rows)
    if n < max(policy.min_rows, 20) or not names:
        return MultivariateResult("domain-classifier", None, None, None, n,
                                  reason=f"no verdict: {n} rows per side (or no features)")
    rng = np.random.default_rng(policy.seed)
    a, b = sample(ref, n, policy.seed), sample(cur, n, policy.seed + 1)
    x = np.vstack([a, b]).astype(np.float64)
    y = np.r_[np.zeros(n), np.ones(n)]
    order = rng.permutation(2 * n)
    half = n  # train on one half, test on the other
    train, test = order[:half], order[half:]
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        return MultivariateResult("domain-classifier", None, None, None, n,
                                  reason="no verdict: a split holds one side only")
    import importlib

    threadpool_limits: Any = importlib.import_module("threadpoolctl").threadpool_limits

    clf = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, max_leaf_nodes=15,
                                         early_stopping=False, random_state=policy.seed)
    # one OpenMP thread: on a shared, loaded machine spinning threads cost minutes, not
    # seconds, for a model this small
    with threadpool_limits(1):
        clf.fit(x[train], y[train])
        scores = clf.predict_proba(x[test])[:, 1]
    s_ref, s_cur = scores[y[test] == 0], scores[y[test] == 1]
    u = stats.mannwhitneyu(s_cur, s_ref, alternative="greater")
    auc = float(u.statistic) / (len(s_cur) * len(s_ref))
    drift = bool(u.pvalue < policy.alpha)
    with threadpool_limits(1):
        top = _top(clf, x[test], y[test], names, policy.seed) if drift else ()
    return MultivariateResult("domain-classifier", round(auc, 4), float(f"{u.pvalue:.6g}"),
                              drift, n, top)


def _top(clf: Any, x: np.ndarray, y: np.ndarray, names: tuple[str, ...],
         seed: int) -> tuple[str, ...]:
    from sklearn.inspection import permutation_importance

    imp = permutation_importance(clf, x, y, scoring="roc_auc", n_repeats=1,
                                 random_state=seed)
    order = np.argsort(-imp.importances_mean)
    return tuple(names[i] for i in order[:5] if imp.importances_mean[i] > 0.01)
