"""What the evaluation and the masking checks share: attack settings, names and the runner.

The white-box runner attacks in chunks of rows so that memory stays flat on large test sets;
:mod:`cpmap.robustness.evaluate` runs every attack at every budget with it, and
:mod:`cpmap.robustness.checks` re-runs PGD with more steps and an unbounded budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cpmap.models.protocol import GradientModel

WHITE_BOX = ("fgsm", "pgd", "pgd-l2", "apgd", "apgd-t", "fab-t", "margin")
BLACK_BOX = ("square", "hsj")
ATTACKS = WHITE_BOX + BLACK_BOX
L2 = frozenset({"pgd-l2"})  # another norm: never part of the L-inf worst case
# minimum-distance attacks: one run gives each row's smallest adversarial distance (all eps)
MIN_DISTANCE = frozenset({"fab-t", "hsj"})
CHUNK = 512


@dataclass(frozen=True)
class AttackSettings:
    """Attack strength; the defaults are the usual evaluation settings at this scale."""

    steps: int = 10
    restarts: int = 1
    #: APGD-CE / APGD-T iterations: 100 in AutoAttack (the default)
    apgd_steps: int = 100
    apgd_targets: int = 9
    #: FAB-T steps per target class: 100 in AutoAttack's reference implementation (the
    #: default), 10 in torchattacks' AutoAttack
    fab_steps: int = 100
    #: Square's queries per row: 5,000 in AutoAttack (the default); fewer is weaker, and the
    #: evidence records how many ran
    square_iters: int = 5000
    hsj_iterations: int = 15
    seed: int = 0
    box: tuple[float, float] = (0.0, 1.0)
    image_shape: tuple[int, int, int] | None = None


# AutoAttack's standard strength (Croce & Hein 2020): what a weaker run must say it lacks
REFERENCE = {"apgd_steps": 100, "fab_steps": 100, "square_iters": 5000}


def shortfall(s: AttackSettings, attacks: Sequence[str]) -> str | None:
    """A plain statement of where these settings are weaker than AutoAttack's, or None."""
    which = {"apgd_steps": ("apgd", "apgd-t"), "fab_steps": ("fab-t",),
             "square_iters": ("square",)}
    short = [f"{key.replace('_', ' ')} {getattr(s, key)} (AutoAttack: {ref})"
             for key, ref in REFERENCE.items()
             if getattr(s, key) < ref and any(a in attacks for a in which[key])]
    if not short:
        return None
    return ("weaker than AutoAttack's standard run: " + ", ".join(short)
            + "; the robust accuracy may be overstated")


def white_box(model: GradientModel, name: str, x: np.ndarray, y: np.ndarray, eps: float,
              s: AttackSettings, *, steps: int | None = None,
              restarts: int | None = None) -> np.ndarray:
    """Adversarial rows for a white-box attack, computed in chunks."""
    import torch

    from cpmap.robustness import attacks as atk

    box = atk.Box(*s.box)
    model.module.eval()
    out = []
    for start in range(0, len(x), CHUNK):
        xt = torch.from_numpy(np.ascontiguousarray(x[start:start + CHUNK], dtype=np.float32))
        yt = torch.from_numpy(np.ascontiguousarray(y[start:start + CHUNK], dtype=np.int64))
        seed = s.seed + start
        if name == "fgsm":
            adv = atk.fgsm(model.logits, xt, yt, eps, box)
        elif name == "apgd-t":
            adv = atk.apgd_t(model.logits, xt, yt, eps, steps=steps or s.apgd_steps,
                             targets=s.apgd_targets, seed=seed, box=box)
        elif name == "margin":
            adv = atk.apgd_margin(model.logits, xt, yt, eps, steps=steps or s.apgd_steps,
                                  seed=seed, box=box)
        elif name == "apgd":
            adv = atk.apgd_ce(model.logits, xt, yt, eps, steps=steps or s.apgd_steps,
                              seed=seed, box=box)
        else:
            adv = atk.pgd(model.logits, xt, yt, eps, steps=steps or s.steps,
                          restarts=restarts or s.restarts, seed=seed, box=box,
                          norm="l2" if name == "pgd-l2" else "linf")
        out.append(adv.numpy())
    return np.concatenate(out) if out else x.copy()


def fab_distances(model: GradientModel, x: np.ndarray, y: np.ndarray,
                  s: AttackSettings) -> np.ndarray:
    """FAB-T's smallest L-inf adversarial distance per row (inf: none found), in chunks."""
    import torch

    from cpmap.robustness import attacks as atk
    from cpmap.robustness.fab import fab_t

    box = atk.Box(*s.box)
    model.module.eval()
    out = []
    for start in range(0, len(x), CHUNK):
        xt = torch.from_numpy(np.ascontiguousarray(x[start:start + CHUNK], dtype=np.float32))
        yt = torch.from_numpy(np.ascontiguousarray(y[start:start + CHUNK], dtype=np.int64))
        _adv, dist = fab_t(model.logits, xt, yt, steps=s.fab_steps, targets=s.apgd_targets,
                           box=box)
        out.append(dist.numpy())
    return np.concatenate(out) if out else np.zeros(0)
