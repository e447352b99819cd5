"""Which attacks fit a model: white-box for differentiable models, black-box for the rest.

A tree ensemble or a pipeline has no input gradient, so PGD cannot run on it; the default for
such a model is the query-based Square and HopSkipJump attacks, and the evidence says so in
words (what ran, with how much access), so a reader never mistakes a black-box figure for a
white-box one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpmap.models.protocol import Model, has_gradients

NAMES = {"fgsm": "FGSM", "pgd": "PGD", "pgd-l2": "PGD-L2", "apgd": "APGD-CE",
         "apgd-t": "APGD-T", "fab-t": "FAB-T", "margin": "margin",
         "square": "Square", "hsj": "HopSkipJump"}


@dataclass(frozen=True)
class AttackPlan:
    attacks: tuple[str, ...]
    access: str  # "white-box" | "black-box"
    statement: str


def describe(model: Model) -> str:
    """The model's class as the user knows it (RandomForestClassifier, Pipeline, mlp)."""
    inner = getattr(model, "inner", None)
    est = getattr(inner, "estimator", inner) if inner is not None else getattr(
        model, "estimator", None)
    spec = getattr(inner if inner is not None else model, "spec", None)
    if spec is not None:
        return f"torch {spec.arch}"
    return type(est).__name__ if est is not None else model.kind


def plan(model: Model, requested: Sequence[str] | None = None) -> AttackPlan:
    """The attacks to run (the requested ones, else the default for the model's kind)."""
    from cpmap.robustness.evaluate import default_attacks  # one default list, kept there

    white = has_gradients(model)
    attacks = tuple(requested) if requested else tuple(default_attacks(model))
    ran = ", ".join(NAMES.get(a, a) for a in attacks)
    if white:
        text = f"white-box attacks ({ran}) on a differentiable {describe(model)} model"
    else:
        text = (f"black-box attacks ({ran}) on a {describe(model)} model: it has no input "
                "gradient, so white-box attacks (FGSM, PGD, APGD) were not run")
    return AttackPlan(attacks, "white-box" if white else "black-box", text)
