"""Slow poisoning: a 10-round drift that every step-to-step comparison calls clean is flagged
against the fixed anchor; clean rounds are not; flipped labels show by class."""

from __future__ import annotations

import numpy as np

from cpmap.drift.poisoning import Round, boundary_shift, check, disagreement

CLASSES = ("a", "b", "c")


def _round(rng: np.random.Generator, n: int, tilt: float, shift: float) -> Round:
    p = np.array([1 / 3 + tilt, 1 / 3 - tilt / 2, 1 / 3 - tilt / 2])
    y = rng.choice(3, n, p=p)
    x = rng.normal(size=(n, 6))
    x[:, 0] += shift
    return Round(x, y)


def test_ten_round_slow_poisoning_is_flagged_though_each_step_looks_clean() -> None:
    rng = np.random.default_rng(1)
    anchor = _round(rng, 3000, 0.0, 0.0)
    # each round: one more point of class a, 0.02 sd more on x0 -- 10 points by the end
    rounds = [_round(rng, 500, 0.01 * t, 0.02 * t) for t in range(1, 11)]
    r = check(anchor, rounds, CLASSES)
    assert r.step_flags == 0  # what a rolling window says: no drift, every time
    assert all(x.step_p is None or x.step_p > 0.01 for x in r.rounds)
    assert r.poisoned and r.flagged and r.rounds[-1].flagged
    assert r.rounds[-1].worst_class == "a" and r.rounds[-1].worst_feature == "x0"
    assert not r.rounds[0].flagged  # it takes accumulation, not one round


def test_clean_rounds_are_not_flagged() -> None:
    rng = np.random.default_rng(2)
    anchor = _round(rng, 3000, 0.0, 0.0)
    for seed in range(3):
        rounds = [_round(np.random.default_rng(100 + seed * 10 + t), 500, 0.0, 0.0)
                  for t in range(10)]
        r = check(anchor, rounds, CLASSES)
        assert not r.poisoned, r.to_dict()


def test_label_disagreement_by_class_and_the_boundary_shift() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(3, 900)
    pred = y.copy()
    wrong = rng.random(900) < 0.05  # the model's ordinary 5% error
    pred[wrong] = (y[wrong] + 1) % 3
    flip = (y == 1) & (rng.random(900) < 0.3)  # an attacker relabels 30% of class-a rows as b
    y_poisoned = y.copy()
    y_poisoned[(y == 0) & (rng.random(900) < 0.3)] = 1
    golden_rows = np.array([300, 300, 300])
    table = disagreement(pred, y_poisoned, golden_rows // 20, golden_rows, CLASSES)
    assert table["flagged"] == ["b"]
    assert boundary_shift(pred, pred) == 0.0
    assert boundary_shift(y, np.where(flip, 2, y)) == float(np.mean(flip))
