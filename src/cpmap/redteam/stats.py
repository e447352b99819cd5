"""Rates with their counts and confidence intervals, and what a sample can support.

A rate measured on a few hundred records is a guess with an error bar: CP5 reports every one
with its count, a two-sided 95% Clopper-Pearson interval (exact, never narrower than the data
allows), and AUC with a percentile bootstrap interval. A TPR "at 0.1% FPR" needs at least 1,000
non-members for the threshold to admit even one false positive: below that it is *not
estimable* (the ROC's FPR can only be 0 or 1/n there), and saying so is the honest answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n``, with its Clopper-Pearson interval."""

    k: int
    n: int
    lo: float
    hi: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 4), "count": [self.k, self.n],
                "ci95": [round(self.lo, 4), round(self.hi, 4)]}

    def text(self) -> str:
        return f"{self.value:.1%} ({self.k}/{self.n}; 95% CI {self.lo:.1%}-{self.hi:.1%})"


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> Rate:
    """The exact binomial interval (Clopper & Pearson 1934) for ``k`` successes in ``n``."""
    from scipy.stats import beta

    if n <= 0:
        return Rate(0, 0, 0.0, 1.0)
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return Rate(int(k), int(n), lo, hi)


def lowest_fpr(nonmembers: int) -> float | None:
    """The smallest non-zero FPR ``nonmembers`` records can express (one false positive)."""
    return 1.0 / nonmembers if nonmembers else None


def estimable(fpr: float, nonmembers: int) -> bool:
    """A TPR at ``fpr`` needs a threshold that admits at least one false positive."""
    return nonmembers * fpr >= 1.0 - 1e-9


def needed(fpr: float) -> int:
    return int(np.ceil(1.0 / fpr - 1e-9))


def bootstrap_auc(scores: np.ndarray, labels: np.ndarray, rounds: int = 200,
                  seed: int = 0, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC, resampling members and non-members apart."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    if not len(pos) or not len(neg):
        return 0.0, 1.0
    out = []
    for _ in range(rounds):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        out.append(roc_auc_score(labels[idx], scores[idx]))
    a = (1 - level) / 2
    return float(np.quantile(out, a)), float(np.quantile(out, 1 - a))
