"""Membership inference: was this record in the training set?

Two attacks, both through ``predict_proba`` only:

* the **loss-threshold** baseline (Yeom et al. 2018): members have lower loss;
* **offline LiRA** (Carlini et al. 2022, "Membership Inference Attacks From First Principles"):
  the target's logit-scaled confidence on the true class, ``log p_y - log sum_{j!=y} p_j``,
  compared with the same statistic under reference models trained *without* the record. With
  few reference models the per-record variance is too noisy, so the paper's fixed (global)
  variance is used below 16 models.

Both report ROC AUC and, more to the point, TPR at 0.1% and 1% FPR: an attack that is right on
a few records with near certainty is a privacy failure even when its AUC looks harmless. Every
rate comes with its count and a Clopper-Pearson interval, AUC with a bootstrap interval, and a
TPR at an FPR the non-members cannot resolve (fewer than 1/FPR of them) is "not estimable"
(:mod:`cpmap.redteam.stats`). Scores are computed in float64 from the logit-scaled confidence,
which keeps its precision where a float32 probability has rounded to 1.0.

Reference models must be trained the way the target was (its recipe from the training record:
see :func:`cpmap.redteam.loader.reference_trainer`) and on different rows: when the attacker's
population is no larger than the training set, each reference trains on a bootstrap sample of
it (with replacement) and the result carries a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.redteam.shadow import Trainer
from cpmap.redteam.stats import Rate, bootstrap_auc, clopper_pearson, estimable, lowest_fpr, needed
from cpmap.redteam.target import PredictFn, Target

_TINY = 1e-300
FPRS = (0.001, 0.01, 0.1)
LABELS = {0.001: "0.1pct", 0.01: "1pct", 0.1: "10pct"}


@dataclass(frozen=True)
class Roc:
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    auc_ci: tuple[float, float] = (0.0, 1.0)

    def tpr_at(self, max_fpr: float) -> float:
        """The best TPR whose FPR does not exceed ``max_fpr``."""
        ok = np.flatnonzero(self.fpr <= max_fpr + 1e-12)
        return float(self.tpr[ok[-1]]) if ok.size else 0.0


def roc(scores: np.ndarray, is_member: np.ndarray, seed: int = 0) -> Roc:
    """ROC of ``scores`` (higher: more likely a member), AUC with its bootstrap interval."""
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.asarray(is_member, dtype=bool)
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    s = np.clip(s, -1e300, 1e300)
    fpr, tpr, _ = roc_curve(labels, s)
    return Roc(fpr, tpr, float(roc_auc_score(labels, s)), bootstrap_auc(s, labels, seed=seed))


@dataclass(frozen=True)
class MembershipResult:
    attack: str
    roc: Roc
    members: int
    nonmembers: int
    reference_models: int
    queries: int
    warnings: tuple[str, ...] = ()

    @property
    def auc(self) -> float:
        return self.roc.auc

    def rate(self, fpr: float) -> Rate | None:
        """TPR at ``fpr`` with its count and interval; None when the sample cannot tell."""
        if not estimable(fpr, self.nonmembers):
            return None
        return clopper_pearson(int(round(self.roc.tpr_at(fpr) * self.members)), self.members)

    @property
    def tpr_at_0_1pct(self) -> float | None:
        r = self.rate(0.001)
        return r.value if r else None

    @property
    def tpr_at_1pct(self) -> float | None:
        r = self.rate(0.01)
        return r.value if r else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attack": self.attack, "auc": round(self.auc, 4),
            "auc_ci95": [round(v, 4) for v in self.roc.auc_ci],
            "members": self.members, "nonmembers": self.nonmembers,
            "lowest_fpr": lowest_fpr(self.nonmembers),
            "reference_models": self.reference_models, "queries": self.queries,
            "warnings": list(self.warnings), "rates": []}
        for fpr in FPRS:
            r = self.rate(fpr)
            key = f"tpr_at_{LABELS[fpr]}_fpr"
            out[key] = round(r.value, 4) if r else None
            out[f"{key}_upper"] = round(r.hi, 4) if r else None
            out["rates"].append({"fpr": fpr, **(r.to_dict() if r else {
                "value": None, "note": f"not estimable: {self.nonmembers} non-members, "
                                       f"{fpr:.1%} FPR needs at least {needed(fpr)}"})})
        return out


def true_class_logit(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log p_y - log(sum of the other classes)``: stable even when p_y rounds to 1."""
    p = np.clip(np.nan_to_num(np.asarray(probs, dtype=np.float64), nan=0.0), 0.0, 1.0)
    rows = np.arange(len(y))
    py = p[rows, y]
    others = p.copy()
    others[rows, y] = 0.0
    rest = others.sum(axis=1)
    out: np.ndarray = np.log(py + _TINY) - np.log(np.clip(rest, 0.0, None) + _TINY)
    return out


def _predict(fn: PredictFn, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i:i + batch]), dtype=np.float64)
                           for i in range(0, len(x), batch)])


def loss_threshold(target: Target, x: np.ndarray, y: np.ndarray,
                   is_member: np.ndarray) -> MembershipResult:
    """Score = minus the cross-entropy loss of the target on (x, y)."""
    before = target.queries
    # log(p_y / (1 - p_y)) orders rows as the loss does, in float64 from the other classes'
    # mass, so two confident rows whose float32 p_y both rounded to 1.0 do not tie
    score = true_class_logit(_predict(target.query, x), y)
    return MembershipResult("loss-threshold", roc(score, is_member), int(is_member.sum()),
                            int((~is_member.astype(bool)).sum()), 0, target.queries - before)


def lira_offline(target: Target, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                 population: tuple[np.ndarray, np.ndarray], trainer: Trainer,
                 n_reference: int = 4, seed: int = 0,
                 train_size: int | None = None) -> MembershipResult:
    """Offline LiRA with ``n_reference`` models trained on random halves of ``population``.

    ``population`` is data the attacker holds that is disjoint from the records under test, so
    every reference model is an OUT model for every record. ``train_size`` (default: half the
    population) should match the target's training-set size when it is known; when the
    population has fewer than twice that many rows, references are bootstrap samples (with
    replacement) so that they still differ, and the result warns.
    """
    if n_reference < 1:
        raise ValueError("LiRA needs at least one reference model")
    x_pop, y_pop = population
    rng = np.random.default_rng(seed)
    size = train_size or max(2, len(x_pop) // 2)
    replace = len(x_pop) < 2 * size
    warnings = (f"attacker population of {len(x_pop)} rows is smaller than twice the target's "
                f"{size} training rows: LiRA reference models are bootstrap samples of it, so "
                "they overlap and the attack is weaker than with a larger population",) \
        if replace else ()
    ref_scores = np.empty((n_reference, len(x)))
    for i in range(n_reference):
        idx = rng.choice(len(x_pop), size=size, replace=replace)
        model = trainer(x_pop[idx], y_pop[idx], seed + 1 + i)
        ref_scores[i] = true_class_logit(_predict(model, x), y)
    before = target.queries
    observed = true_class_logit(_predict(target.query, x), y)
    mu = ref_scores.mean(axis=0)
    if n_reference >= 16:
        sigma = ref_scores.std(axis=0) + 1e-6
    else:
        sigma = np.full(len(x), float((ref_scores - mu).std()) + 1e-6)
    score = (observed - mu) / sigma
    return MembershipResult("lira-offline", roc(score, is_member, seed), int(is_member.sum()),
                            int((~is_member.astype(bool)).sum()), n_reference,
                            target.queries - before, warnings)


def summary_text(d: dict[str, Any]) -> str:
    """One line from a result's dict: AUC with its interval, each TPR with count and interval,
    or why it is not estimable."""
    lo, hi = d.get("auc_ci95") or (None, None)
    parts = [f"AUC {d['auc']:.3f}" + (f" (95% CI {lo:.3f}-{hi:.3f})" if lo is not None else "")]
    for r in d.get("rates", [])[:2]:
        if r.get("value") is None:
            parts.append(f"TPR at {r['fpr']:.1%} FPR {r['note']}")
        else:
            k, n = r["count"]
            a, b = r["ci95"]
            parts.append(f"TPR {r['value']:.1%} at {r['fpr']:.1%} FPR ({k}/{n}; 95% CI "
                         f"{a:.1%}-{b:.1%})")
    return ", ".join(parts)
