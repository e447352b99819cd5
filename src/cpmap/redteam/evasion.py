"""Evasion: adversarial examples within an L-inf budget, white-box and through queries only.

The attacks are CP4's (:mod:`cpmap.robustness.attacks` for FGSM/PGD/APGD in PyTorch,
:mod:`cpmap.robustness.blackbox` for Square and HopSkipJump); this module points them at a
:class:`Target`, restricts them to samples the model gets right (evading a wrong answer proves
nothing) and measures what a red-team report needs: success rate, perturbation size and, for
the black-box attacks, the queries they cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.redteam.target import Target

WHITE_BOX = ("fgsm", "pgd", "apgd")
BLACK_BOX = ("square", "hopskipjump")


@dataclass(frozen=True)
class AttackResult:
    attack: str
    kind: str  # white-box | black-box
    eps: float
    samples: int
    success_rate: float
    mean_linf: float  # mean L-inf perturbation of successful examples (0 when none)
    queries: int | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"attack": self.attack, "kind": self.kind, "eps": self.eps,
                "samples": self.samples, "success_rate": round(self.success_rate, 4),
                "mean_linf": round(self.mean_linf, 4), "queries": self.queries,
                "queries_per_sample": (round(self.queries / self.samples, 1)
                                       if self.queries is not None and self.samples else None),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class EvasionResult:
    results: tuple[AttackResult, ...]
    skipped: tuple[tuple[str, str], ...]  # (attack, reason)
    clean_accuracy: float

    def best(self, kind: str) -> AttackResult | None:
        pts = [r for r in self.results if r.kind == kind]
        return max(pts, key=lambda r: r.success_rate) if pts else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clean_accuracy": round(self.clean_accuracy, 4),
                               "attacks": [r.to_dict() for r in self.results],
                               "skipped": dict(self.skipped)}
        for kind in ("white-box", "black-box"):
            best = self.best(kind)
            out[f"{kind.replace('-', '_')}_success_rate"] = (
                round(best.success_rate, 4) if best else None)
        return out


@dataclass
class _AsModel:
    """The CP4 :class:`~cpmap.models.Model` contract over a target's counted queries."""

    target: Target
    kind: str = "redteam"

    @property
    def n_classes(self) -> int:
        return self.target.n_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.target.input_shape

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.target.query(x)


def _white(target: Target, name: str, x: np.ndarray, y: np.ndarray, eps: float, steps: int,
           seed: int) -> np.ndarray:
    import torch

    from cpmap.robustness.attacks import Box, apgd_ce, fgsm, pgd

    module = target.logits_module()
    box = Box(*target.bounds)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    was_training = module.training
    module.eval()
    try:
        if name == "fgsm":
            adv = fgsm(module, xt, yt, eps, box=box)
        elif name == "pgd":
            adv = pgd(module, xt, yt, eps, steps=steps, seed=seed, box=box)
        else:
            adv = apgd_ce(module, xt, yt, eps, steps=steps, seed=seed, box=box)
    finally:
        module.train(was_training)
    return np.asarray(adv.detach().numpy(), dtype=np.float32)


def _black(target: Target, name: str, x: np.ndarray, y: np.ndarray, eps: float,
           square_iters: int, hsj_iterations: int, seed: int) -> tuple[np.ndarray, int]:
    """(L-inf distance of the adversarial example found per row, inf if none; queries)."""
    from cpmap.robustness.blackbox import hop_skip_jump, square

    model = _AsModel(target)
    if name == "square":
        shape = (1, *target.image_shape) if target.image_shape else None
        adv, queries = square(model, x, y, eps, n_iters=square_iters, seed=seed,
                              image_shape=shape, box=target.bounds)
        fooled = target.labels(adv) != y
        dist = np.where(fooled, np.abs(adv - x).max(axis=1), np.inf)
        return dist, queries + len(x)
    dist, queries = hop_skip_jump(model, x, y, iterations=hsj_iterations, seed=seed,
                                  box=target.bounds)
    return dist, queries


def evade(target: Target, x: np.ndarray, y: np.ndarray, *, eps: float, samples: int,
          white_box: Sequence[str], black_box: Sequence[str], steps: int = 20,
          square_iters: int = 200, hsj_iterations: int = 8, seed: int = 0) -> EvasionResult:
    """Run the selected attacks at ``eps`` (a share of the input range) on correct samples."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))[: max(samples * 2, samples)]
    xs = np.asarray(x[order], dtype=np.float32).reshape(len(order), -1)
    ys = np.asarray(y[order], dtype=np.int64)
    correct = target.labels(xs) == ys
    clean = float(correct.mean()) if len(ys) else 0.0
    xs, ys = xs[correct][:samples], ys[correct][:samples]
    lo, hi = target.bounds
    budget = eps * (hi - lo)
    results: list[AttackResult] = []
    skipped: list[tuple[str, str]] = []
    if len(xs) == 0:
        return EvasionResult((), tuple((a, "no correctly classified samples")
                                       for a in (*white_box, *black_box)), clean)
    for name in white_box:
        if not target.white_box:
            skipped.append((name, "no white-box access (not a local PyTorch model)"))
            continue
        start = time.perf_counter()
        adv = _white(target, name, xs, ys, budget, steps, seed)
        fooled = target.labels(adv) != ys
        results.append(_result(name, "white-box", eps, fooled, np.abs(adv - xs).max(axis=1),
                               None, time.perf_counter() - start))
    for name in black_box:
        start = time.perf_counter()
        dist, queries = _black(target, name, xs, ys, budget, square_iters, hsj_iterations, seed)
        fooled = dist <= budget + 1e-6
        results.append(_result(name, "black-box", eps, fooled, dist, queries,
                               time.perf_counter() - start))
    return EvasionResult(tuple(results), tuple(skipped), clean)


def _result(name: str, kind: str, eps: float, fooled: np.ndarray, dist: np.ndarray,
            queries: int | None, seconds: float) -> AttackResult:
    size = float(np.mean(dist[fooled])) if fooled.any() else 0.0
    return AttackResult(name, kind, eps, len(fooled), float(fooled.mean()), size, queries,
                        seconds)
