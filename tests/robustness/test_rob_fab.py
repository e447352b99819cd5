"""FAB-T (Croce & Hein 2020): the exact box-constrained L-inf projection, minimal distances
that answer every eps, and its place in the per-example worst case."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from cpmap.robustness.attacks import Box
from cpmap.robustness.evaluate import AttackSettings, evaluate
from cpmap.robustness.fab import fab_t, project_linf


def _lp_radius(p: np.ndarray, w: np.ndarray, c: float, box: Box) -> float:
    """min t s.t. w.d = c, |d_i| <= t, lo <= p + d <= hi, solved by scipy's LP."""
    from scipy.optimize import linprog

    n = len(p)
    obj = np.r_[np.zeros(n), 1.0]
    a_ub = np.block([[np.eye(n), -np.ones((n, 1))], [-np.eye(n), -np.ones((n, 1))]])
    res = linprog(obj, A_ub=a_ub, b_ub=np.zeros(2 * n), A_eq=np.r_[w, 0.0][None],
                  b_eq=[c], bounds=[(box.lo - pi, box.hi - pi) for pi in p] + [(0, None)])
    assert res.status == 0
    return float(res.x[-1])


def test_projection_is_the_smallest_linf_step_onto_the_hyperplane_inside_the_box() -> None:
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(40, 6, generator=gen, dtype=torch.float64)
    w = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    w[::7, 2] = 0.0
    c = torch.randn(40, generator=gen, dtype=torch.float64) * 0.3
    d = project_linf(p, w, c)
    inside = (p + d >= -1e-12).all(1) & (p + d <= 1 + 1e-12).all(1)
    assert bool(inside.all())
    reached = ((w * d).sum(1) - c).abs() < 1e-9
    for i in range(40):
        if reached[i]:
            assert float(d[i].abs().max()) == pytest.approx(
                _lp_radius(p[i].numpy(), w[i].numpy(), float(c[i]), Box()), abs=1e-7)
    assert bool(reached.sum() >= 30)
    # out of reach inside the box: every coordinate moves as far as it can, towards c
    far = project_linf(p[:1], torch.ones(1, 6, dtype=torch.float64),
                       torch.tensor([100.0], dtype=torch.float64))
    assert torch.allclose(p[:1] + far, torch.ones(1, 6, dtype=torch.float64))


def test_fab_t_finds_small_adversarial_points_and_reports_their_distance(
        mlp: Any, heldout: Any) -> None:
    x, y = heldout
    xt, yt = torch.from_numpy(x[:60]), torch.from_numpy(y[:60]).long()
    adv, dist = fab_t(mlp.logits, xt, yt, steps=10, targets=3)
    with torch.no_grad():
        pred = mlp.logits(adv).argmax(1)
        clean = mlp.logits(xt).argmax(1)
    found = torch.isfinite(dist)
    assert bool((pred[found] != yt[found]).all())  # every reported point fools the model
    assert bool(((adv - xt).abs().amax(1).double()[found] - dist[found]).abs().max() < 1e-6)
    assert bool((dist[clean != yt] == 0).all())
    assert float(found.float().mean()) > 0.9  # an undefended MLP: nearly every row breaks
    assert bool((adv >= 0).all() and (adv <= 1).all())


def test_one_fab_run_answers_every_eps_and_joins_the_worst_case(mlp: Any,
                                                                heldout: Any) -> None:
    x, y = heldout
    s = AttackSettings(fab_steps=10, apgd_targets=3, image_shape=(1, 8, 8))
    ev = evaluate(mlp, x[:60], y[:60], [0.05, 0.1, 0.2], ["fab-t"], s, checks=False)
    accs = [r.robust_accuracy for r in ev.results]
    assert [r.attack for r in ev.results] == ["fab-t"] * 3
    assert accs == sorted(accs, reverse=True) and accs[0] < ev.clean_accuracy
    assert [w for _, w in ev.worst_case] == pytest.approx(accs)
    both = evaluate(mlp, x[:60], y[:60], [0.1], ["fab-t", "fgsm"], s, checks=False)
    per = {r.attack: r.robust_accuracy for r in both.results}
    assert both.robust_at(0.1) is not None
    assert both.robust_at(0.1) <= min(per.values())  # type: ignore[operator]
