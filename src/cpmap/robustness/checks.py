"""Sanity checks against gradient masking (Athalye et al. 2018; Carlini et al. 2019).

A defence that only breaks gradients looks robust to white-box attacks but is not. The signs,
each reported as a finding:

* robust accuracy that *rises* as eps grows (a stronger budget cannot make the attack weaker);
* a black-box attack succeeding where the white-box ones fail ("white-box attack weaker than
  black-box": with APGD-T and the margin attack in the ensemble this means the gradients
  mislead, not that one loss was a poor choice);
* more PGD steps and restarts giving a *weaker* attack than the default run;
* an unbounded attack (eps = the whole input range) that does not reach ~0% accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas, OwaspML
from cpmap.models.protocol import GradientModel, Model, predict
from cpmap.robustness.runner import BLACK_BOX, WHITE_BOX, AttackSettings, white_box

if TYPE_CHECKING:
    from cpmap.robustness.evaluate import Evaluation

TAGS = (Atlas.T0043, OwaspML.ML01)
REMEDY = ("Do not trust these robustness figures: evaluate with APGD and black-box attacks, "
          "remove non-differentiable or randomized defences, and retrain adversarially.")
MAX_CHECK_ROWS = 200


def _tol(n: int) -> float:
    return max(0.02, 3.0 / max(n, 1))


def _finding(rule: str, message: str, severity: Severity = Severity.HIGH,
             **props: object) -> Finding:
    return Finding(rule, severity, message, Location("model"), REMEDY, TAGS, dict(props))


def nonmonotonic(ev: Evaluation) -> list[Finding]:
    out = []
    tol = _tol(ev.samples)
    for attack in dict.fromkeys(r.attack for r in ev.results):
        rows = sorted((r for r in ev.results if r.attack == attack), key=lambda r: r.eps)
        out += [_finding("CP4-MASK-NONMONOTONIC",
                         f"{attack}: robust accuracy rises from {a.robust_accuracy:.3f} at eps "
                         f"{a.eps:g} to {b.robust_accuracy:.3f} at eps {b.eps:g}",
                         attack=attack, eps=b.eps)
                for a, b in zip(rows, rows[1:], strict=False)
                if b.robust_accuracy > a.robust_accuracy + tol]
    return out


def blackbox_beats_whitebox(ev: Evaluation, white: Sequence[str],
                            black: Sequence[str]) -> list[Finding]:
    out = []
    tol = _tol(ev.samples)
    for eps in sorted({r.eps for r in ev.results}):
        wb = ev.robust_at(eps, white)
        bb = ev.robust_at(eps, black)
        if wb is not None and bb is not None and bb < wb - tol:
            out.append(_finding("CP4-MASK-BLACKBOX",
                                f"white-box attack weaker than black-box at eps {eps:g}: "
                                f"robust accuracy {wb:.3f} under the best white-box attack, "
                                f"{bb:.3f} under the best black-box attack",
                                eps=eps, white_box=wb, black_box=bb))
    return out


def masking_findings(model: Model, ev: Evaluation, xs: np.ndarray, ys: np.ndarray,
                     s: AttackSettings) -> list[Finding]:
    """All checks; the step/restart and unbounded ones only for white-box models."""
    found = nonmonotonic(ev) + blackbox_beats_whitebox(ev, WHITE_BOX, BLACK_BOX)
    if not isinstance(model, GradientModel) or len(ys) == 0:
        return found
    rng = np.random.default_rng(s.seed)
    idx = np.sort(rng.permutation(len(ys))[:MAX_CHECK_ROWS])
    x, y = xs[idx], ys[idx]
    scale = len(ys) / max(ev.samples, 1) / len(idx)
    eps_all = sorted({r.eps for r in ev.results if r.attack != "pgd-l2"})
    if eps_all:
        eps = eps_all[len(eps_all) // 2]
        base = float((predict(model, white_box(model, "pgd", x, y, eps, s)) == y).sum()) * scale
        strong = float((predict(model, white_box(model, "pgd", x, y, eps, s,
                                                 steps=s.steps * 4, restarts=2)) == y).sum())
        strong *= scale
        if strong > base + _tol(ev.samples):
            found.append(_finding("CP4-MASK-STEPS",
                                  f"PGD with {s.steps * 4} steps and 2 restarts is weaker "
                                  f"({strong:.3f}) than with {s.steps} steps ({base:.3f}) at "
                                  f"eps {eps:g}", eps=eps))
    if s.image_shape is None:
        # On tabular rows the box is the data's range, not a space every class fills: a
        # plain MLP can keep rows correct against any step inside it (no masking there).
        return found
    span = s.box[1] - s.box[0]
    unbounded = float((predict(model, white_box(model, "pgd", x, y, span, s,
                                                steps=max(20, s.steps))) == y).mean())
    if unbounded > 0.05:
        found.append(_finding("CP4-MASK-UNBOUNDED",
                              f"an unbounded PGD attack (eps {span:g}) leaves {unbounded:.1%} "
                              "of rows correctly classified; gradients look masked",
                              Severity.MEDIUM, eps=span))
    return found
