"""Robustness evaluation: accuracy under each attack at each budget, and masking checks.

Robust accuracy is the share of *all* evaluated rows that the model still classifies correctly
under attack (rows it already gets wrong count as broken), so the curve starts at the clean
accuracy. White-box attacks need a :class:`~cpmap.models.GradientModel`; black-box ones run on
any model and report the queries they spent.

The **worst case** is per example: a row counts as robust at an eps only if every L-inf attack
run at that eps failed on it (the minimum of the attacks' accuracies overstates robustness
whenever different attacks break different rows). The default white-box evaluation is the
AutoAttack-style ensemble :data:`ENSEMBLE`, plus FGSM and PGD for the curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cpmap.core.findings import Finding
from cpmap.errors import InputError
from cpmap.models.protocol import GradientModel, Model, has_gradients, predict
from cpmap.robustness import blackbox
from cpmap.robustness.checks import masking_findings
from cpmap.robustness.predicates import ENSEMBLE
from cpmap.robustness.runner import ATTACKS, L2, MIN_DISTANCE, WHITE_BOX, fab_distances, white_box
from cpmap.robustness.runner import AttackSettings as AttackSettings  # its users import it here

DEFAULT_SETTINGS = AttackSettings()


@dataclass(frozen=True)
class AttackResult:
    attack: str
    eps: float
    robust_accuracy: float
    queries: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"attack": self.attack, "eps": self.eps,
                "robust_accuracy": round(self.robust_accuracy, 6), "queries": self.queries}


@dataclass(frozen=True)
class Evaluation:
    clean_accuracy: float
    results: tuple[AttackResult, ...]
    samples: int
    findings: tuple[Finding, ...] = ()
    settings: AttackSettings = field(default_factory=AttackSettings)
    worst_case: tuple[tuple[float, float], ...] = ()  # (eps, per-example worst case)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape: ``{"clean_accuracy", "results", "worst_case"}``."""
        return {"clean_accuracy": round(self.clean_accuracy, 6),
                "results": [r.to_dict() for r in self.results],
                "worst_case": [{"eps": e, "robust_accuracy": round(w, 6),
                                "attacks": list(self.linf_attacks(e))}
                               for e, w in self.worst_case]}

    def linf_attacks(self, eps: float) -> tuple[str, ...]:
        return tuple(r.attack for r in self.results
                     if abs(r.eps - eps) < 1e-9 and r.attack not in L2)

    def robust_at(self, eps: float, attacks: Sequence[str] | None = None) -> float | None:
        """The worst case at ``eps``: per example over every L-inf attack when ``attacks`` is
        None and the rows were kept, else the minimum of the named attacks' accuracies."""
        if attacks is None:
            per_row = [w for e, w in self.worst_case if abs(e - eps) < 1e-9]
            if per_row:
                return per_row[0]
        vals = [r.robust_accuracy for r in self.results
                if abs(r.eps - eps) < 1e-9 and (attacks is None or r.attack in attacks)]
        return min(vals) if vals else None


def check_attacks(model: Model, attacks: Sequence[str]) -> list[str]:
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise InputError(f"--attacks: unknown attack(s) {', '.join(unknown)}",
                         hint=f"one of {', '.join(ATTACKS)}")
    if not has_gradients(model):
        white = [a for a in attacks if a in WHITE_BOX]
        if white:
            raise InputError(f"--attacks {','.join(white)}: white-box attacks need a PyTorch "
                             f"model; this is a {model.kind} model",
                             hint="use the black-box attacks square and hsj")
    return list(dict.fromkeys(attacks))


def default_attacks(model: Model) -> list[str]:
    """The AutoAttack-style ensemble (and FGSM, PGD for the curves); black-box: Square, HSJ."""
    return ["fgsm", "pgd", *ENSEMBLE, "margin"] if has_gradients(model) else ["square", "hsj"]


def _one(model: Model, name: str, x: np.ndarray, y: np.ndarray, eps: float,
         s: AttackSettings) -> tuple[np.ndarray, int | None]:
    """(still-correct mask over rows, queries) for one attack at one eps."""
    if name == "square":
        scores = _logits_fn(model) if isinstance(model, GradientModel) else None
        adv, queries = blackbox.square(model, x, y, eps, n_iters=s.square_iters, seed=s.seed,
                                       image_shape=s.image_shape, box=s.box, scores=scores)
        return predict(model, adv) == y, queries
    assert isinstance(model, GradientModel)  # noqa: S101 - checked by check_attacks
    return predict(model, white_box(model, name, x, y, eps, s)) == y, None


def _logits_fn(model: GradientModel) -> Callable[[np.ndarray], np.ndarray]:
    """Numpy float64 logits of a torch model, for Square's margin."""
    import torch

    def scores(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out: np.ndarray = model.logits(torch.from_numpy(x)).double().numpy()
        return out

    return scores


def evaluate(model: Model, x: np.ndarray, y: np.ndarray, eps_list: Sequence[float],
             attacks: Sequence[str], settings: AttackSettings = DEFAULT_SETTINGS,
             checks: bool = True, on_step: Callable[[str], None] | None = None) -> Evaluation:
    """Run every attack at every eps on ``x``; add gradient-masking findings if ``checks``."""
    names = check_attacks(model, attacks)
    correct = predict(model, x) == y
    n = len(y)
    xs, ys = x[correct], y[correct]
    results: list[AttackResult] = []
    standing = {float(e): np.ones(len(ys), bool) for e in eps_list}  # rows no attack broke
    for name in names:
        if name in MIN_DISTANCE:
            rows, dist = _min_distance(model, name, xs, ys, eps_list, settings, n)
            results += rows
            for e in standing:
                standing[e] &= dist > e + 1e-9
            if on_step:
                on_step(name)
            continue
        for eps in eps_list:
            still, queries = _one(model, name, xs, ys, float(eps), settings) if len(ys) else (
                np.zeros(0, bool), 0 if name == "square" else None)
            if name not in L2:
                standing[float(eps)] &= still
            results.append(AttackResult(name, float(eps), float(still.sum()) / max(n, 1),
                                        queries))
            if on_step:
                on_step(f"{name} eps={eps:g}")
    linf = any(nm not in L2 for nm in names)
    worst = tuple((e, float(m.sum()) / max(n, 1)) for e, m in standing.items()) if linf else ()
    ev = Evaluation(float(correct.mean()) if n else 0.0, tuple(results), n, (), settings,
                    worst)
    if checks and n:
        found = masking_findings(model, ev, xs, ys, settings)
        ev = Evaluation(ev.clean_accuracy, ev.results, n, tuple(found), settings, worst)
    return ev


def _min_distance(model: Model, name: str, xs: np.ndarray, ys: np.ndarray,
                  eps_list: Sequence[float], s: AttackSettings, n: int
                  ) -> tuple[list[AttackResult], np.ndarray]:
    """One HopSkipJump or FAB-T run gives each row's smallest adversarial distance, hence
    every eps at once (a row is broken at eps when that distance is <= eps)."""
    queries: int | None = None
    if len(ys) == 0:
        dist = np.zeros(0)
        queries = 0 if name == "hsj" else None
    elif name == "hsj":
        dist, queries = blackbox.hop_skip_jump(model, xs, ys, iterations=s.hsj_iterations,
                                               seed=s.seed, box=s.box)
    else:
        assert isinstance(model, GradientModel)  # noqa: S101 - checked by check_attacks
        dist = fab_distances(model, xs, ys, s)
    return [AttackResult(name, float(e), float((dist > e + 1e-9).sum()) / max(n, 1), queries)
            for e in eps_list], dist
