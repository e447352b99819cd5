"""A model that predicts one class, or no better than the majority class, is a finding.

Robust accuracy of such a model equals its clean accuracy (nothing to flip), which reads as a
perfectly robust model; reporting it as a pass is the worst kind of flattering number. The
check runs on every evaluation and after every training run.
"""

from __future__ import annotations

import math

import numpy as np

from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas, OwaspML

RULE = "CP4-DEGENERATE-MODEL"


def degenerate_findings(predicted: np.ndarray, y: np.ndarray, where: str = "model"
                        ) -> list[Finding]:
    """A finding when ``predicted`` is one class or its accuracy is within noise of the
    base rate (two standard errors of the majority share, at least 0.005)."""
    n = len(y)
    if n == 0:
        return []
    base = float(np.bincount(y).max()) / n
    acc = float((predicted == y).mean())
    classes = len(np.unique(predicted))
    margin = max(0.005, 2 * math.sqrt(base * (1 - base) / n))
    if classes > 1 and acc > base + margin:
        return []
    why = (f"predicts a single class for all {n} rows" if classes == 1 else
           f"has accuracy {acc:.3f}, no better than the base rate {base:.3f} (majority "
           f"class, {n} rows)")
    return [Finding(RULE, Severity.HIGH, f"degenerate model: it {why}; its robustness "
                    "figures mean nothing", Location(where),
                    "Check the inputs the model is fed (feature schema, scaling) and its "
                    "training (a PGD-trained model can collapse: lower eps or train longer).",
                    (Atlas.T0043, OwaspML.ML01),
                    {"accuracy": round(acc, 5), "base_rate": round(base, 5),
                     "predicted_classes": classes, "rows": n})]
