"""Membership inference: was this record in the training set?

Two attacks, both through ``predict_proba`` only:

* the **loss-threshold** baseline (Yeom et al. 2018): members have lower loss;
* **offline LiRA** (Carlini et al. 2022, "Membership Inference Attacks From First Principles"):
  the target's logit-scaled confidence on the true class, ``log p_y - log sum_{j!=y} p_j``,
  compared with the same statistic under reference models trained *without* the record. With
  few reference models the per-record variance is too noisy, so the paper's fixed (global)
  variance is used below 16 models.

Both report ROC AUC and, more to the point, TPR at 0.1% and 1% FPR: an attack that is right on
a few records with near certainty is a privacy failure even when its AUC looks harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.redteam.shadow import Trainer
from cpmap.redteam.target import PredictFn, Target

_TINY = 1e-300


@dataclass(frozen=True)
class Roc:
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float

    def tpr_at(self, max_fpr: float) -> float:
        """The best TPR whose FPR does not exceed ``max_fpr``."""
        ok = np.flatnonzero(self.fpr <= max_fpr + 1e-12)
        return float(self.tpr[ok[-1]]) if ok.size else 0.0


def roc(scores: np.ndarray, is_member: np.ndarray) -> Roc:
    """ROC of ``scores`` (higher: more likely a member)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.asarray(is_member, dtype=bool)
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    s = np.clip(s, -1e300, 1e300)
    fpr, tpr, _ = roc_curve(labels, s)
    return Roc(fpr, tpr, float(roc_auc_score(labels, s)))


@dataclass(frozen=True)
class MembershipResult:
    attack: str
    roc: Roc
    members: int
    nonmembers: int
    reference_models: int
    queries: int

    @property
    def auc(self) -> float:
        return self.roc.auc

    @property
    def tpr_at_0_1pct(self) -> float:
        return self.roc.tpr_at(0.001)

    @property
    def tpr_at_1pct(self) -> float:
        return self.roc.tpr_at(0.01)

    def to_dict(self) -> dict[str, Any]:
        return {"attack": self.attack, "auc": round(self.auc, 4),
                "tpr_at_0.1pct_fpr": round(self.tpr_at_0_1pct, 4),
                "tpr_at_1pct_fpr": round(self.tpr_at_1pct, 4),
                "members": self.members, "nonmembers": self.nonmembers,
                "reference_models": self.reference_models, "queries": self.queries}


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
    probs = _predict(target.query, x)
    score = np.log(np.clip(probs[np.arange(len(y)), y], _TINY, 1.0))
    return MembershipResult("loss-threshold", roc(score, is_member), int(is_member.sum()),
                            int((~is_member.astype(bool)).sum()), 0, target.queries - before)


def lira_offline(target: Target, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                 population: tuple[np.ndarray, np.ndarray], trainer: Trainer,
                 n_reference: int = 4, seed: int = 0,
                 train_size: int | None = None) -> MembershipResult:
    """Offline LiRA with ``n_reference`` models trained on random halves of ``population``.

    ``population`` is data the attacker holds that is disjoint from the records under test, so
    every reference model is an OUT model for every record. ``train_size`` (default: half the
    population) should match the target's training-set size when it is known.
    """
    if n_reference < 1:
        raise ValueError("LiRA needs at least one reference model")
    x_pop, y_pop = population
    rng = np.random.default_rng(seed)
    size = min(len(x_pop), train_size or max(2, len(x_pop) // 2))
    ref_scores = np.empty((n_reference, len(x)))
    for i in range(n_reference):
        idx = rng.choice(len(x_pop), size=size, replace=False)
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
    return MembershipResult("lira-offline", roc(score, is_member), int(is_member.sum()),
                            int((~is_member.astype(bool)).sum()), n_reference,
                            target.queries - before)
