"""White-box evasion attacks in plain PyTorch: FGSM, PGD (L-inf, L2), APGD-CE, APGD-T, margin.

APGD-CE, APGD-T (targeted, DLR loss) and the margin attack with Square are the AutoAttack-style
ensemble (Croce & Hein 2020): cross-entropy alone saturates on confident models, the DLR and
margin losses do not, so a model is robust only against the whole set. Losses other than the
cross-entropy are computed from the logits in float64, so saturated softmax outputs cannot
hide the gradient direction.

Every attack is batched (one forward/backward per step for a whole chunk of rows), seeded (its
own ``torch.Generator``, so results do not depend on global state) and keeps inputs inside the
data's valid range. Only the input gradient is taken (``torch.autograd.grad`` on the input), so
no parameter gradients are ever computed or accumulated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Logits = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Box:
    """The valid input range (digits: [0, 1]; scaled tables: [0, 1])."""

    lo: float = 0.0
    hi: float = 1.0


def _input_grad(logits: Logits, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(logits(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _project(x: torch.Tensor, x_adv: torch.Tensor, eps: float, norm: str,
             box: Box) -> torch.Tensor:
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        delta = delta * (eps / n).clamp(max=1.0)[:, None]
    return (x + delta).clamp(box.lo, box.hi)


def fgsm(logits: Logits, x: torch.Tensor, y: torch.Tensor, eps: float,
         box: Box = Box()) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow et al. 2015): one L-inf step of size eps."""
    step: torch.Tensor = _input_grad(logits, x, y).sign() * eps
    out: torch.Tensor = (x + step).clamp(box.lo, box.hi).detach()
    return out


def _random_start(x: torch.Tensor, eps: float, norm: str, gen: torch.Generator) -> torch.Tensor:
    if norm == "linf":
        u: torch.Tensor = torch.rand(x.shape, generator=gen) * 2 - 1
        return u * eps
    d = torch.randn(x.shape, generator=gen)
    d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None]
    r: torch.Tensor = torch.rand(x.shape[0], 1, generator=gen) * eps
    out: torch.Tensor = d * r
    return out


def pgd(logits: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 10,
        alpha: float | None = None, norm: str = "linf", random_start: bool = True,
        restarts: int = 1, seed: int = 0, box: Box = Box()) -> torch.Tensor:
    """Projected Gradient Descent (Madry et al. 2018), L-inf or L2, with random restarts.

    Each row keeps the first restart that fools the model (else the last restart's point).
    ``alpha`` defaults to 2.5 * eps / steps, the step size of the Madry paper.
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm {norm!r}")
    step = alpha if alpha is not None else 2.5 * eps / max(steps, 1)
    gen = torch.Generator().manual_seed(seed)
    best = x.clone()
    found = torch.zeros(len(x), dtype=torch.bool)
    for r in range(max(restarts, 1)):
        x_adv = x.clone()
        if random_start:
            x_adv = _project(x, x + _random_start(x, eps, norm, gen), eps, norm, box)
        for _ in range(steps):
            g = _input_grad(logits, x_adv, y)
            if norm == "linf":
                x_adv = x_adv + step * g.sign()
            else:
                x_adv = x_adv + step * g / g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None]
            x_adv = _project(x, x_adv, eps, norm, box).detach()
        with torch.no_grad():
            fooled = logits(x_adv).argmax(1) != y
        take = ~found if r == max(restarts, 1) - 1 else fooled & ~found
        best[take] = x_adv[take]
        found |= fooled
    return best.detach()


def _checkpoints(n_iter: int) -> list[int]:
    """APGD's checkpoints: p0=0, p1=0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({int(round(q * n_iter)) for q in p if q <= 1})


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ce_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = F.cross_entropy(z, y, reduction="none")
    return out


def margin_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max_{j != y} z_j - z_y`` in float64 (Carlini & Wagner): positive once fooled."""
    z = z.double()
    own = z.gather(1, y[:, None]).squeeze(1)
    other = z.scatter(1, y[:, None], -torch.inf).amax(1)
    out: torch.Tensor = other - own
    return out


def dlr_targeted(target: torch.Tensor) -> Loss:
    """Targeted DLR loss (Croce & Hein 2020), float64: scale-invariant, so a model that only
    scales its logits up (saturated softmax) does not flatten it."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = z.double()
        zs = z.sort(1).values
        k = z.shape[1]
        low = 0.5 * (zs[:, -3] + zs[:, -4]) if k >= 4 else zs[:, 0]
        gap = z.gather(1, y[:, None]).squeeze(1) - z.gather(1, target[:, None]).squeeze(1)
        out: torch.Tensor = -gap / (zs[:, -1] - low + 1e-12)
        return out

    return loss


def apgd_ce(logits: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 50,
            seed: int = 0, box: Box = Box(), rho: float = 0.75) -> torch.Tensor:
    """APGD with cross-entropy (Croce & Hein 2020), L-inf: momentum and adaptive step sizes.

    Needs no step-size tuning, which is why it is the standard check that a PGD result is not
    an artefact of a badly chosen step.
    """
    return apgd(logits, x, y, eps, ce_loss, steps=steps, seed=seed, box=box, rho=rho)


def apgd_margin(logits: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                steps: int = 50, seed: int = 0, box: Box = Box()) -> torch.Tensor:
    """APGD on the float64 logit margin: the minimum-margin stand-in for FAB-T."""
    return apgd(logits, x, y, eps, margin_loss, steps=steps, seed=seed, box=box)


def apgd_t(logits: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 50,
           targets: int = 9, seed: int = 0, box: Box = Box()) -> torch.Tensor:
    """APGD-T: targeted APGD with the DLR loss, towards each of the ``targets`` classes the
    model ranks highest after the true one (one run per target on the rows still standing)."""
    with torch.no_grad():
        z = logits(x)
    order = z.argsort(1, descending=True)
    best = x.clone()
    found = torch.zeros(len(x), dtype=torch.bool)
    for rank in range(1, min(targets, z.shape[1] - 1) + 1):
        todo = torch.nonzero(~found).squeeze(1)
        if len(todo) == 0:
            break
        xt, yt = x[todo], y[todo]
        tgt = torch.where(order[todo, 0] == yt, order[todo, rank], order[todo, rank - 1])
        adv = apgd(logits, xt, yt, eps, dlr_targeted(tgt), steps=steps, seed=seed + rank,
                   box=box)
        with torch.no_grad():
            fooled = logits(adv).argmax(1) != yt
        best[todo] = adv
        found[todo[fooled]] = True
    return best.detach()


def apgd(logits: Logits, x: torch.Tensor, y: torch.Tensor, eps: float, loss_fn: Loss, *,
         steps: int = 50, seed: int = 0, box: Box = Box(), rho: float = 0.75) -> torch.Tensor:
    """APGD (Croce & Hein 2020), L-inf, maximising ``loss_fn(logits, y)`` per row."""
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    checks = _checkpoints(steps)
    eta = torch.full((n, 1), 2.0 * eps)
    x_k = _project(x, x + _random_start(x, eps, "linf", gen), eps, "linf", box)

    def loss_grad(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            out = logits(z)
            loss = loss_fn(out, y)
            (g,) = torch.autograd.grad(loss.sum(), z)
        return loss.detach().double(), g, out.detach().argmax(1) != y

    loss_k, g_k, fooled = loss_grad(x_k)
    best_adv = x.clone()
    best_adv[fooled] = x_k[fooled]
    found = fooled.clone()
    x_max, loss_max = x_k.clone(), loss_k.clone()
    x_prev = x_k.clone()
    increases = torch.zeros(n)
    last_check, eta_at_check, loss_max_at_check = 0, eta.clone(), loss_max.clone()
    for k in range(steps):
        z = _project(x, x_k + eta * g_k.sign(), eps, "linf", box)
        a = 0.75 if k > 0 else 1.0
        x_new = _project(x, x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev), eps, "linf", box)
        loss_new, g_new, fooled = loss_grad(x_new)
        newly = fooled & ~found
        best_adv[newly] = x_new[newly]
        found |= fooled
        increases += (loss_new > loss_k).float()
        better = loss_new > loss_max
        x_max[better], loss_max[better] = x_new[better], loss_new[better]
        x_prev, x_k, loss_k, g_k = x_k, x_new, loss_new, g_new
        if k + 1 in checks and k + 1 > last_check:
            span = k + 1 - last_check
            cond1 = increases < rho * span
            cond2 = (eta.squeeze(1) == eta_at_check.squeeze(1)) & (loss_max == loss_max_at_check)
            shrink = cond1 | cond2
            eta_at_check, loss_max_at_check = eta.clone(), loss_max.clone()
            eta[shrink] /= 2.0
            x_k[shrink] = x_max[shrink]
            if shrink.any():
                loss_k[shrink], g_k[shrink], _f = (t[shrink] for t in loss_grad(x_k))
            increases.zero_()
            last_check = k + 1
    best_adv[~found] = x_max[~found]
    return best_adv.detach()
