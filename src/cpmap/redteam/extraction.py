"""Model extraction: train a surrogate from the target's answers under a query budget.

The attacker holds unlabelled data from the same domain (``pool``); when the budget exceeds it,
extra queries are mixup blends of pool pairs, as a real attacker would synthesise. The target
is queried once at the largest budget and each smaller budget uses a prefix of those answers,
so the cost reported per point is exactly its budget.

Output hardening is applied to the same answers the way a gateway would (CP7): ``label``
(argmax only) or ``rounded`` (probabilities rounded to ``decimals``), so the gap between the
``probabilities`` row and the hardened rows is what hardening buys against this attacker.

Two attackers, so that query budgets (CP7) are sized for both: one holding ``pool`` (real
in-distribution rows, stated in the result) and a **data-free** one whose queries are uniform
random inputs in the valid range (output ``data-free``: probabilities). Fidelity is the share
of held-out rows where the surrogate agrees with the target, with its Clopper-Pearson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.redteam.shadow import MLPConfig, train_mlp
from cpmap.redteam.stats import clopper_pearson
from cpmap.redteam.target import Target

OUTPUTS = ("probabilities", "rounded", "label")
SURROGATE = MLPConfig(hidden=64, epochs=200)


@dataclass(frozen=True)
class ExtractionPoint:
    output: str
    budget: int
    fidelity: float  # agreement with the target's labels on held-out data
    accuracy: float  # surrogate accuracy on held-out true labels
    rows: int = 0  # held-out rows the fidelity was measured on

    def interval(self) -> tuple[float, float]:
        r = clopper_pearson(int(round(self.fidelity * self.rows)), self.rows)
        return r.lo, r.hi

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval()
        return {"output": self.output, "budget": self.budget,
                "fidelity": round(self.fidelity, 4), "fidelity_ci95": [round(lo, 4), round(hi, 4)],
                "accuracy": round(self.accuracy, 4), "rows": self.rows}


@dataclass(frozen=True)
class ExtractionResult:
    points: tuple[ExtractionPoint, ...]
    target_accuracy: float
    queries: int
    decimals: int
    pool_rows: int = 0

    def best(self, output: str) -> ExtractionPoint | None:
        pts = [p for p in self.points if p.output == output]
        return max(pts, key=lambda p: p.budget) if pts else None

    def first_reaching(self, output: str, fidelity: float) -> ExtractionPoint | None:
        pts = sorted((p for p in self.points if p.output == output), key=lambda p: p.budget)
        return next((p for p in pts if p.fidelity >= fidelity), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target_accuracy": round(self.target_accuracy, 4),
                               "queries": self.queries, "rounding_decimals": self.decimals,
                               "attacker": (f"holds {self.pool_rows} unlabelled in-distribution "
                                            "rows (extra queries: mixup blends of them); the "
                                            "data-free attacker holds none (uniform random "
                                            "queries)"),
                               "points": [p.to_dict() for p in self.points]}
        for name in (*OUTPUTS, "data-free"):
            best = self.best(name)
            if best is not None:
                out[f"fidelity_{name.replace('-', '_')}"] = round(best.fidelity, 4)
                out[f"fidelity_{name.replace('-', '_')}_ci95"] = [
                    round(v, 4) for v in best.interval()]
        best = self.best("probabilities")
        if best is not None:
            lo, hi = best.interval()
            out |= {"fidelity_probabilities_lower": round(lo, 4),
                    "fidelity_probabilities_upper": round(hi, 4), "eval_rows": best.rows}
        return out


def harden(probs: np.ndarray, output: str, decimals: int = 1) -> np.ndarray:
    """What a hardened endpoint would answer, as training targets for the surrogate."""
    if output == "probabilities":
        return probs
    if output == "label":
        labels: np.ndarray = np.eye(probs.shape[1])[probs.argmax(axis=1)]
        return labels
    if output == "rounded":
        r = np.round(probs, decimals)
        sums = r.sum(axis=1, keepdims=True)
        onehot = np.eye(probs.shape[1])[probs.argmax(axis=1)]
        out: np.ndarray = np.where(sums > 0, r / np.where(sums > 0, sums, 1.0), onehot)
        return out
    raise ValueError(f"unknown output hardening {output!r}; use one of {', '.join(OUTPUTS)}")


def _queries(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    flat = pool.reshape(len(pool), -1)
    order = rng.permutation(len(flat))
    base = flat[order[:n]]
    extra = n - len(base)
    if extra <= 0:
        return base
    a, b = rng.integers(0, len(flat), extra), rng.integers(0, len(flat), extra)
    lam = rng.uniform(0.0, 1.0, (extra, 1))
    return np.concatenate([base, lam * flat[a] + (1 - lam) * flat[b]])


def extract(target: Target, pool: np.ndarray, evaluation: tuple[np.ndarray, np.ndarray],
            budgets: Sequence[int], outputs: Sequence[str] = OUTPUTS, decimals: int = 1,
            seed: int = 0, surrogate: MLPConfig = SURROGATE
            ) -> ExtractionResult:
    """Fidelity and accuracy of surrogates trained on 1..max(budgets) answers."""
    if not budgets or min(budgets) < 1:
        raise ValueError("extraction budgets must be positive")
    rng = np.random.default_rng(seed)
    qx = _queries(np.asarray(pool, dtype=np.float64), max(budgets), rng)
    before = target.queries
    answers = np.concatenate([target.query(qx[i:i + 1024]) for i in range(0, len(qx), 1024)])
    queries = target.queries - before
    x_eval, y_eval = evaluation
    target_labels = target.labels(x_eval)
    points = []
    for output in outputs:
        soft = harden(answers, output, decimals)
        points += [_point(target, output, b, qx[:b], soft[:b], x_eval, y_eval, target_labels,
                          seed, surrogate) for b in sorted(budgets)]
    top = max(budgets)
    rx = rng.uniform(*target.bounds, size=(top, qx.shape[1]))
    before_free = target.queries
    free = np.concatenate([target.query(rx[i:i + 1024]) for i in range(0, top, 1024)])
    queries += target.queries - before_free
    points.append(_point(target, "data-free", top, rx, free, x_eval, y_eval, target_labels,
                         seed, surrogate))
    acc = float((target_labels == y_eval).mean()) if len(y_eval) else 0.0
    return ExtractionResult(tuple(points), acc, queries, decimals, len(pool))


def _point(target: Target, output: str, budget: int, qx: np.ndarray, soft: np.ndarray,
           x_eval: np.ndarray, y_eval: np.ndarray, target_labels: np.ndarray, seed: int,
           surrogate: MLPConfig) -> ExtractionPoint:
    model = train_mlp(qx, soft, target.n_classes, seed, surrogate)
    pred = model.predict_proba(x_eval.reshape(len(x_eval), -1)).argmax(axis=1)
    return ExtractionPoint(output, budget, float((pred == target_labels).mean()),
                           float((pred == y_eval).mean()), len(y_eval))
