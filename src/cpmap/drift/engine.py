"""One drift comparison: every feature's tests, the correction, the multivariate test.

:func:`compare` is the in-memory path (exact KS on the raw values); ``binned=True`` computes
the same summaries the Dask engine reduces (:mod:`cpmap.drift.binned`), which is how the two
paths are shown to agree. Either way the result is a :class:`DriftResult`, what the CLI prints,
the evidence records and the HTML page plots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.drift import binned as bn
from cpmap.drift.frame import Side, column_kinds
from cpmap.drift.multivariate import MultivariateResult, domain_classifier
from cpmap.drift.policy import DriftPolicy
from cpmap.drift.univariate import (
    FeatureResult,
    categorical,
    counts,
    decide,
    missing_rate,
    numeric,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DriftResult:
    features: tuple[FeatureResult, ...]
    multivariate: MultivariateResult
    reference: dict[str, Any]
    current: dict[str, Any]
    policy: DriftPolicy
    engine: str = "memory"
    skipped: tuple[str, ...] = ()  # columns on one side only

    @property
    def drifted(self) -> list[FeatureResult]:
        return [f for f in self.features if f.drift]

    @property
    def drift(self) -> bool:
        return bool(self.drifted) or bool(self.multivariate.drift)

    @property
    def no_verdict(self) -> list[FeatureResult]:
        return [f for f in self.features if f.drift is None]

    def to_dict(self) -> dict[str, Any]:
        return {"drift": self.drift, "features": [f.to_dict() for f in self.features],
                "multivariate": self.multivariate.to_dict(), "reference": self.reference,
                "current": self.current, "engine": self.engine,
                "correction": self.policy.correction, "alpha": self.policy.alpha,
                "min_effect": self.policy.min_effect, "skipped_columns": list(self.skipped)}


def aligned(ref: Side, cur: Side) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The two frames on their shared columns; a current ``prediction`` column is compared
    with the reference's ``label`` (prediction drift against the training labels)."""
    a, b = ref.frame, cur.frame
    if "prediction" in b.columns and "prediction" not in a.columns and "label" in a.columns:
        a = a.rename(columns={"label": "prediction"})
    shared = [c for c in a.columns if c in b.columns]
    skipped = tuple(str(c) for c in [*a.columns, *b.columns] if c not in shared)
    return a[shared], b[shared], tuple(dict.fromkeys(skipped))


def matrix(frame: pd.DataFrame, kinds: dict[str, str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """The numeric columns (and categorical codes) as a float matrix for the classifier."""
    import pandas as pd

    cols, names = [], []
    for name, kind in kinds.items():
        s = frame[name]
        if kind == "numeric":
            cols.append(pd.to_numeric(s, errors="coerce").to_numpy(np.float64))
        else:  # a stable code per category string: the same category gets the same number
            codes = s.astype("string").map(lambda v: float(hash_code(v)), na_action="ignore")
            cols.append(codes.astype(np.float64).to_numpy(np.float64, na_value=np.nan))
        names.append(name)
    return (np.column_stack(cols) if cols else np.empty((len(frame), 0))), tuple(names)


def hash_code(value: str) -> int:
    import zlib

    return zlib.crc32(str(value).encode()) % 1_000_003


def compare(ref: Side, cur: Side, policy: DriftPolicy | None = None, *,
            binned: bool = False, multivariate: bool = True) -> DriftResult:
    """Test every shared column of ``cur`` against ``ref``; correct; test the joint shift."""
    policy = policy or DriftPolicy()
    a, b, skipped = aligned(ref, cur)
    kinds = column_kinds(a, b, policy)
    results = (_binned(a, b, kinds, policy) if binned else _exact(a, b, kinds, policy))
    mv = _multivariate(a, b, kinds, policy, multivariate)
    decided, joint = decide(results, policy, mv.p_value)
    features, mv = tuple(decided), mv.judged(joint, policy)
    return DriftResult(features, mv, ref.describe(), cur.describe(), policy,
                       "memory-binned" if binned else "memory", skipped)


def _multivariate(a: pd.DataFrame, b: pd.DataFrame, kinds: dict[str, str],
                  policy: DriftPolicy, enabled: bool) -> MultivariateResult:
    usable = {k: v for k, v in kinds.items() if k != "prediction"}
    if not enabled or len(usable) < 2:
        return MultivariateResult("domain-classifier", None, None, None, 0,
                                  reason="not run (fewer than 2 features, or disabled)")
    xa, names = matrix(a, usable)
    xb, _ = matrix(b, usable)
    return domain_classifier(xa, xb, names, policy)


def _exact(a: pd.DataFrame, b: pd.DataFrame, kinds: dict[str, str],
           policy: DriftPolicy) -> list[FeatureResult]:
    import pandas as pd

    out: list[FeatureResult] = []
    for name, kind in kinds.items():
        ra, rb = a[name], b[name]
        if kind == "numeric":
            va = pd.to_numeric(ra, errors="coerce").to_numpy(np.float64)
            vb = pd.to_numeric(rb, errors="coerce").to_numpy(np.float64)
            out.append(numeric(name, va, vb, policy))
        else:
            out.append(categorical(name, counts(ra.to_numpy()), counts(rb.to_numpy()), policy))
        miss = missing_rate(name, int(ra.isna().sum()), len(ra), int(rb.isna().sum()),
                            len(rb), policy)
        if miss is not None:
            out.append(miss)
    return out


def summaries(frame: pd.DataFrame, kinds: dict[str, str],
              edges: dict[str, np.ndarray]) -> dict[str, bn.Summary]:
    """The mergeable summary of every column of one frame (or one partition)."""
    import pandas as pd

    out: dict[str, bn.Summary] = {}
    for name, kind in kinds.items():
        if kind == "numeric":
            v = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
            out[name] = bn.summarize_numeric(v, edges[name])
        else:
            out[name] = bn.summarize_categorical(frame[name].to_numpy())
    return out


def reference_edges(frame: pd.DataFrame, kinds: dict[str, str],
                    policy: DriftPolicy) -> dict[str, np.ndarray]:
    import pandas as pd

    return {n: bn.quantile_edges(pd.to_numeric(frame[n], errors="coerce")
                                 .to_numpy(np.float64), policy.bins)
            for n, k in kinds.items() if k == "numeric"}


def _binned(a: pd.DataFrame, b: pd.DataFrame, kinds: dict[str, str],
            policy: DriftPolicy, edges: dict[str, np.ndarray] | None = None
            ) -> list[FeatureResult]:
    edges = edges if edges is not None else reference_edges(a, kinds, policy)
    return bn.results_from(summaries(a, kinds, edges), summaries(b, kinds, edges), policy)
