"""Group fairness metrics on predictions, computed here (no fairlearn dependency).

Definitions follow fairlearn's, so numbers can be cross-checked:

* demographic parity difference: the largest gap between groups in the rate of positive
  predictions, ``max_g P(yhat=pos | g) - min_g P(yhat=pos | g)``;
* equalized odds difference: the larger of the between-group gaps in true-positive rate and in
  false-positive rate.

For more than two classes each class is taken in turn as the positive one (one-vs-rest) and the
worst gap is reported, with the class that produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.errors import InputError


@dataclass(frozen=True)
class Fairness:
    attribute: str
    groups: dict[str, int]
    demographic_parity_difference: float
    equalized_odds_difference: float
    positive: str
    selection_rate: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"sensitive_attribute": self.attribute, "groups": self.groups,
                "positive_class": self.positive,
                "demographic_parity_difference": round(self.demographic_parity_difference, 6),
                "equalized_odds_difference": round(self.equalized_odds_difference, 6),
                "selection_rate": {k: round(v, 6) for k, v in self.selection_rate.items()}}


def _gap(values: Sequence[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(max(finite) - min(finite)) if len(finite) >= 2 else 0.0


def _rate(mask: np.ndarray, where: np.ndarray) -> float:
    n = int(where.sum())
    return float(mask[where].mean()) if n else float("nan")


def binary_gaps(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
                ) -> tuple[float, float, dict[str, float]]:
    """(demographic parity difference, equalized odds difference, selection rate per group)
    for boolean ``y_true``/``y_pred``."""
    labels = [str(g) for g in np.unique(groups)]
    sel, tpr, fpr = {}, [], []
    for g in labels:
        in_g = groups.astype(str) == g
        sel[g] = _rate(y_pred, in_g)
        tpr.append(_rate(y_pred, in_g & y_true))
        fpr.append(_rate(y_pred, in_g & ~y_true))
    return _gap(list(sel.values())), max(_gap(tpr), _gap(fpr)), sel


def fairness(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, attribute: str,
             classes: Sequence[str] = (), positive: int | None = None) -> Fairness:
    """Fairness of predictions ``y_pred`` against ``y_true`` across ``groups``."""
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not len(y_true) == len(y_pred) == len(groups):
        raise InputError(f"fairness on {attribute!r}: labels, predictions and groups differ in "
                         "length")
    if len(y_true) == 0:
        raise InputError(f"fairness on {attribute!r}: no rows")
    names, counts = np.unique(groups.astype(str), return_counts=True)
    if len(names) < 2:
        raise InputError(f"sensitive attribute {attribute!r}: needs at least two groups")
    present = sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))
    candidates = [positive] if positive is not None else (
        [max(present)] if len(present) <= 2 else present)
    best: tuple[float, float, dict[str, float], int] | None = None
    for c in candidates:
        dp, eo, sel = binary_gaps(y_true == c, y_pred == c, groups)
        if best is None or max(dp, eo) > max(best[0], best[1]):
            best = (dp, eo, sel, int(c))
    assert best is not None  # noqa: S101 - candidates is never empty
    dp, eo, sel, c = best
    label = classes[c] if 0 <= c < len(classes) else str(c)
    return Fairness(attribute, {str(n): int(k) for n, k in zip(names, counts, strict=True)},
                    dp, eo, label, sel)
