"""FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein 2020), L-inf, plain PyTorch.

FAB looks for the *smallest* perturbation that changes the prediction, rather than the highest
loss inside a fixed budget: at each step it linearises the gap between the target class's
logit and the true class's, projects both the current point and the original onto that
hyperplane (inside the valid box, minimising the L-inf norm), takes a step that is a convex
combination of the two projections biased towards the original (``alpha_max``) with a small
overshoot (``eta``), and, once a point fools the model, pulls it back towards the original
(``beta``) to search for a closer one. It needs no step size and no loss whose scale a
defence can flatten, which is why AutoAttack's standard ensemble includes it next to APGD-CE,
APGD-T and Square. This follows the reference algorithm (as in torchattacks' ``FAB`` with
``multi_targeted=True``): no random start on the first restart, one run towards each of the
classes the model ranks next after the true one.

Because it returns each row's smallest adversarial distance, one run answers every eps: a
row is broken at eps when a point at L-inf distance <= eps was found.
"""

from __future__ import annotations

import torch

from cpmap.robustness.attacks import Box, Logits

UNIT = Box()  # [0, 1]


def project_linf(p: torch.Tensor, w: torch.Tensor, c: torch.Tensor,
                 box: Box = UNIT) -> torch.Tensor:
    """Per row, the smallest-L-inf ``d`` with ``w . d = c`` and ``p + d`` inside ``box``.

    Moving coordinate i by ``r`` towards ``sign(w_i * c)`` adds ``|w_i| * min(r, room_i)`` to
    ``w . d``, a piecewise-linear increasing function of r: sorting the rooms gives its
    breakpoints, and the first segment that reaches ``|c|`` gives the exact r. When the box
    does not allow ``|c|`` (out of reach), every coordinate moves as far as its room allows
    (the best the box allows, as in the reference). Computed in float64.
    """
    p64, w64, c64 = p.double(), w.double(), c.double()
    s = torch.sign(w64) * torch.sign(c64)[:, None]
    room = torch.where(s > 0, box.hi - p64, torch.where(s < 0, p64 - box.lo,
                                                        torch.zeros_like(p64)))
    room = room.clamp_min(0.0)
    aw = w64.abs() * (s != 0)
    need = c64.abs()
    rs, idx = room.sort(1)
    ws = aw.gather(1, idx)
    before = torch.cumsum(ws * rs, 1) - ws * rs  # sum_{j<k} |w|_j room_j
    tail = ws.sum(1, keepdim=True) - torch.cumsum(ws, 1) + ws  # sum_{j>=k} |w|_j
    reach = before + rs * tail  # w . d at r = room_k
    k = (reach < need[:, None]).sum(1)
    n = p.shape[1]
    kk = k.clamp(max=n - 1)[:, None]
    r = ((need - before.gather(1, kk).squeeze(1))
         / tail.gather(1, kk).squeeze(1).clamp_min(1e-300)).clamp_min(0.0)
    r = torch.where(k >= n, torch.full_like(r, torch.inf), r)
    d = s * torch.minimum(room, r[:, None])
    return d.to(p.dtype)


def _gap_grad(logits: Logits, x: torch.Tensor, y: torch.Tensor,
              target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_target - z_y, its input gradient) per row: negative while the row is correct."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = logits(x)
        rows = torch.arange(len(x))
        gap = z[rows, target] - z[rows, y]
        (g,) = torch.autograd.grad(gap.sum(), x)
    return gap.detach(), g


def fab_targeted_run(logits: Logits, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor,
                     *, steps: int = 100, alpha_max: float = 0.1, eta: float = 1.05,
                     beta: float = 0.9, box: Box = UNIT) -> tuple[torch.Tensor, torch.Tensor]:
    """One FAB run towards ``target`` from the original points (no random start):
    (closest adversarial point found, its L-inf distance; inf where none was found)."""
    x0 = x.detach()
    x1 = x0.clone()
    best = x0.clone()
    dist = torch.full((len(x),), torch.inf, dtype=torch.float64)
    for _ in range(steps):
        gap, g = _gap_grad(logits, x1, y, target)
        # the linearised boundary {z : gap + g . (z - x1) = 0}, reached from x1 and from x0
        d1 = project_linf(x1, g, -gap, box)
        d2 = project_linf(x0, g, (g * (x1 - x0)).sum(1) - gap, box)
        a1 = d1.abs().amax(1).clamp_min(1e-8)
        a2 = d2.abs().amax(1).clamp_min(1e-8)
        alpha = (a1 / (a1 + a2)).clamp(0.0, alpha_max)[:, None]
        x1 = ((x1 + eta * d1) * (1 - alpha) + (x0 + eta * d2) * alpha).clamp(box.lo, box.hi)
        with torch.no_grad():
            fooled = logits(x1).argmax(1) != y
        t = (x1 - x0).abs().amax(1).double()
        closer = fooled & (t < dist)
        best[closer], dist[closer] = x1[closer], t[closer]
        x1 = torch.where(fooled[:, None], x0 + (x1 - x0) * beta, x1).detach()
    return best, dist


def fab_t(logits: Logits, x: torch.Tensor, y: torch.Tensor, *, steps: int = 100,
          targets: int = 9, box: Box = UNIT) -> tuple[torch.Tensor, torch.Tensor]:
    """FAB-T over the ``targets`` classes ranked next after the true one on the clean input:
    (closest adversarial point per row, its L-inf distance). Rows already misclassified are at
    distance 0; rows never fooled at inf."""
    with torch.no_grad():
        z = logits(x)
    order = z.argsort(1, descending=True)
    correct = order[:, 0] == y
    best = x.clone().detach()
    dist = torch.where(correct, torch.inf, 0.0).double()
    idx = torch.nonzero(correct).squeeze(1)
    if len(idx) == 0:
        return best, dist
    xc, yc = x[idx], y[idx]
    for rank in range(1, min(targets, z.shape[1] - 1) + 1):
        adv, d = fab_targeted_run(logits, xc, yc, order[idx, rank], steps=steps, box=box)
        closer = d < dist[idx]
        best[idx[closer]], dist[idx[closer]] = adv[closer], d[closer]
    return best, dist
