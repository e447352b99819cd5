"""Slow poisoning: every round judged against the fixed training anchor, and accumulated.

An attacker who moves the data a little per round passes every step-to-step comparison ("no
drift" each time) while the model's boundary walks away. So each round (a new batch, or a
retraining round's data) is compared with the *anchor* (the data the trusted version was
trained on), and the deviations are accumulated across rounds with two-sided CUSUMs
(Page 1954) of

- each class's label share, as a z-score against the anchor's share at the round's size, and
- each numeric feature's mean, as a z-score against the anchor's mean and spread,

which alarm when a sum passes ``h`` (reference value ``k``: shifts under ``k`` standard
errors are forgiven). The step-to-step tests are run too and reported, to show what a rolling
window would have said. With a model, each round's labels are checked against its predictions
by class (labels the production model disagrees with more than it disagrees with the golden
set), and successive versions' predictions on the golden set give the boundary shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PoisonPolicy:
    k: float = 0.5  # CUSUM reference value, in standard errors
    h: float = 8.0  # alarm threshold: ~1 false alarm per several thousand rounds per series
    alpha: float = 0.01  # level of the per-round tests (step-to-step and anchor)
    max_boundary_shift: float = 0.05  # share of golden rows whose prediction may change
    # whether the feature-mean CUSUM may flag a round (always computed and reported); the
    # retraining intake judges labels only, as new inputs that drifted are what it retrains on
    feature_alarms: bool = True


@dataclass(frozen=True)
class Round:
    x: np.ndarray  # [n, d] numeric features
    y: np.ndarray  # [n] class indexes
    name: str = ""


@dataclass(frozen=True)
class RoundResult:
    name: str
    rows: int
    label_cusum: float
    feature_cusum: float
    label_alarm: bool
    feature_alarm: bool
    anchor_p: float  # smallest BH-adjusted p of this round vs the anchor
    step_p: float | None  # ... vs the previous round (None for the first)
    worst_class: str
    worst_feature: str

    @property
    def flagged(self) -> bool:
        return self.label_alarm or self.feature_alarm

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.name, "rows": self.rows,
                "label_cusum": round(self.label_cusum, 3),
                "feature_cusum": round(self.feature_cusum, 3), "flagged": self.flagged,
                "label_alarm": self.label_alarm, "feature_alarm": self.feature_alarm,
                "anchor_p": float(f"{self.anchor_p:.4g}"),
                "step_p": None if self.step_p is None else float(f"{self.step_p:.4g}"),
                "worst_class": self.worst_class, "worst_feature": self.worst_feature}


@dataclass(frozen=True)
class PoisonResult:
    rounds: tuple[RoundResult, ...]
    policy: PoisonPolicy
    disagreement: dict[str, Any] = field(default_factory=dict)
    boundary_shift: float | None = None

    @property
    def flagged(self) -> list[RoundResult]:
        return [r for r in self.rounds if r.flagged]

    @property
    def step_flags(self) -> int:
        return sum(1 for r in self.rounds
                   if r.step_p is not None and r.step_p < self.policy.alpha)

    @property
    def poisoned(self) -> bool:
        shift = self.boundary_shift is not None and \
            self.boundary_shift > self.policy.max_boundary_shift
        return bool(self.flagged) or bool(self.disagreement.get("flagged")) or shift

    def to_dict(self) -> dict[str, Any]:
        return {"poisoning": self.poisoned, "rounds": [r.to_dict() for r in self.rounds],
                "flagged_rounds": [r.name for r in self.flagged],
                "step_to_step_flags": self.step_flags, "disagreement": self.disagreement,
                "boundary_shift": self.boundary_shift, "k": self.policy.k, "h": self.policy.h}


class Cusum:
    """Two-sided CUSUM over several series at once (one value per series per update)."""

    def __init__(self, series: int, k: float) -> None:
        self.k = k
        self.hi = np.zeros(series)
        self.lo = np.zeros(series)

    def update(self, z: np.ndarray) -> np.ndarray:
        self.hi = np.maximum(0.0, self.hi + z - self.k)
        self.lo = np.maximum(0.0, self.lo - z - self.k)
        out: np.ndarray = np.maximum(self.hi, self.lo)
        return out


def _label_z(anchor_share: np.ndarray, n0: int, y: np.ndarray, classes: int) -> np.ndarray:
    """z of each class share against the anchor's (both samples' errors in the variance)."""
    share = np.bincount(y, minlength=classes)[:classes] / max(len(y), 1)
    p0 = np.clip(anchor_share, 1e-6, 1 - 1e-6)
    z: np.ndarray = (share - p0) / np.sqrt(p0 * (1 - p0) * (1 / max(len(y), 1) + 1 / max(n0, 1)))
    return z


def _shares_p(a: np.ndarray, b: np.ndarray, classes: int) -> float:
    """Chi-square p-value that two label samples share one class distribution."""
    table = np.vstack([np.bincount(a, minlength=classes), np.bincount(b, minlength=classes)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False)[1])


def _features_p(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest BH-adjusted KS p-value over the feature columns."""
    if a.shape[1] == 0:
        return 1.0
    p = [stats.ks_2samp(a[:, j], b[:, j], method="asymp").pvalue for j in range(a.shape[1])]
    return float(np.min(stats.false_discovery_control(p, method="bh")))


def _two_sample_p(a: Round, b: Round, classes: int) -> float:
    p = [_shares_p(a.y, b.y, classes), _features_p(a.x, b.x)]
    return float(min(1.0, 2 * min(p)))  # Bonferroni over labels and features


def check(anchor: Round, rounds: Sequence[Round], classes: Sequence[str],
          feature_names: Sequence[str] = (), policy: PoisonPolicy | None = None
          ) -> PoisonResult:
    """CUSUMs against the anchor, and the step-to-step tests, for every round in order."""
    policy = policy or PoisonPolicy()
    k = len(classes)
    share0 = np.bincount(anchor.y, minlength=k)[:k] / max(len(anchor.y), 1)
    mean0, sd0 = anchor.x.mean(axis=0), anchor.x.std(axis=0)
    sd0 = np.where(sd0 > 0, sd0, 1.0)
    labels, feats = Cusum(k, policy.k), Cusum(anchor.x.shape[1], policy.k)
    names = list(feature_names) or [f"x{j}" for j in range(anchor.x.shape[1])]
    out: list[RoundResult] = []
    for t, r in enumerate(rounds):
        ls = labels.update(_label_z(share0, len(anchor.y), r.y, k))
        se = sd0 * np.sqrt(1 / max(len(r.y), 1) + 1 / max(len(anchor.y), 1))
        fz = (r.x.mean(axis=0) - mean0) / se
        fs = feats.update(fz) if len(fz) else np.zeros(1)
        step = _two_sample_p(rounds[t - 1], r, k) if t > 0 else None
        out.append(RoundResult(
            r.name or f"round {t + 1}", len(r.y), float(ls.max()), float(fs.max()),
            bool(ls.max() > policy.h), policy.feature_alarms and bool(fs.max() > policy.h),
            _two_sample_p(anchor, r, k), step, str(classes[int(np.argmax(ls))]),
            str(names[int(np.argmax(fs))]) if len(fz) else ""))
    return PoisonResult(tuple(out), policy)


def disagreement(pred: np.ndarray, y: np.ndarray, golden_wrong: np.ndarray,
                 golden_rows: np.ndarray, classes: Sequence[str], alpha: float = 0.01
                 ) -> dict[str, Any]:
    """By class: how often a round's labels disagree with the model's predictions, against
    the model's own error on the golden set for that class (``golden_wrong`` of
    ``golden_rows``): one-sided Fisher exact tests, so the golden set's own sampling error
    counts, BH across classes."""
    rows: list[dict[str, Any]] = []
    p: list[float] = []
    for c, name in enumerate(classes):
        m = y == c
        n = int(m.sum())
        if n == 0:
            continue
        k = int(np.sum(pred[m] != c))
        gw, gn = int(golden_wrong[c]), int(golden_rows[c])
        base = gw / gn if gn else 0.0
        table = [[k, n - k], [gw, gn - gw]]
        p.append(float(stats.fisher_exact(table, alternative="greater").pvalue) if gn else 1.0)
        rows.append({"class": name, "rows": n, "disagree": round(k / n, 4),
                     "golden_error": round(base, 4)})
    adj = stats.false_discovery_control(p, method="bh") if p else []
    for row, q in zip(rows, adj, strict=True):
        row["p_adjusted"] = float(f"{q:.4g}")
        row["flagged"] = bool(q < alpha and float(row["disagree"])
                              > float(row["golden_error"]) + 0.02)
    flagged = [r["class"] for r in rows if r["flagged"]]
    return {"classes": rows, "flagged": flagged}


def boundary_shift(before: np.ndarray, after: np.ndarray) -> float:
    """Share of golden rows whose predicted class differs between two versions."""
    return float(np.mean(before != after)) if len(before) else 0.0
