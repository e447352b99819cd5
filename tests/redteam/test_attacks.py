"""Membership inference, extraction, inversion and evasion on small seeded models."""

from __future__ import annotations

import numpy as np
import pytest

from cpmap.redteam.evasion import evade
from cpmap.redteam.extraction import extract, harden
from cpmap.redteam.inversion import invert
from cpmap.redteam.membership import lira_offline, loss_threshold, roc, true_class_logit
from cpmap.redteam.shadow import MLPConfig, mlp_trainer, train_mlp
from cpmap.redteam.target import QueryBudgetExceeded, Target

Data = tuple[np.ndarray, np.ndarray]


def test_roc_low_fpr_points() -> None:
    scores = np.r_[np.arange(10, 20), np.arange(0, 10)].astype(float)
    members = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    r = roc(scores, members)
    assert r.auc == 1.0 and r.tpr_at(0.0) == 1.0
    flipped = roc(-scores, members)
    assert flipped.auc == 0.0 and flipped.tpr_at(0.001) == 0.0


def test_true_class_logit_is_stable_when_p_rounds_to_one() -> None:
    p = np.array([[1.0, 1e-30, 0.0], [0.5, 0.5, 0.0]])
    out = true_class_logit(p, np.array([0, 0]))
    assert np.isfinite(out).all() and out[0] > 60 and abs(out[1]) < 1e-9


def test_membership_attacks_find_an_overfit_model(data: Data) -> None:
    x, y = data
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    mem, non, pop = order[:150], order[150:450], order[450:1000]
    cfg = MLPConfig(hidden=128, epochs=200)
    model = train_mlp(x[mem], y[mem], 10, 1, cfg)
    target = Target("overfit", "cd" * 32, model.predict_proba, 10, (64,))
    xs, ys = np.concatenate([x[mem], x[non]]), np.concatenate([y[mem], y[non]])
    is_member = np.r_[np.ones(150, bool), np.zeros(300, bool)]
    lira = lira_offline(target, xs, ys, is_member, (x[pop], y[pop]), mlp_trainer(10, cfg), 4, 0,
                        train_size=150)
    loss = loss_threshold(target, xs, ys, is_member)
    assert lira.auc > 0.6 and loss.auc > 0.55
    assert lira.tpr_at_1pct > 0.02  # well above chance (0.01)
    assert lira.queries == loss.queries == 450
    d = lira.to_dict()
    assert {"auc", "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr"} <= set(d)


def test_lira_needs_a_reference_model(target: Target, data: Data) -> None:
    x, y = data
    with pytest.raises(ValueError, match="at least one"):
        lira_offline(target, x[:4], y[:4], np.r_[True, True, False, False], (x, y),
                     mlp_trainer(10), 0)


def test_harden_outputs() -> None:
    p = np.array([[0.62, 0.33, 0.05], [0.04, 0.04, 0.92]])
    assert (harden(p, "label") == np.array([[1, 0, 0], [0, 0, 1]])).all()
    r = harden(p, "rounded", 1)
    assert np.allclose(r.sum(axis=1), 1.0) and np.allclose(r[0], [2 / 3, 1 / 3, 0.0])
    with pytest.raises(ValueError):
        harden(p, "nope")


def test_extraction_fidelity_grows_with_budget(target: Target, data: Data) -> None:
    x, y = data
    res = extract(target, x[600:1200], (x[1200:], y[1200:]), [20, 400], seed=0)
    prob = sorted((p for p in res.points if p.output == "probabilities"), key=lambda p: p.budget)
    assert prob[1].fidelity > prob[0].fidelity and prob[1].fidelity > 0.85
    assert res.queries == 400 + 400  # the pool attacker's, then the data-free attacker's
    assert {p.output for p in res.points} == {"probabilities", "rounded", "label", "data-free"}
    d = res.to_dict()
    assert set(d) >= {"fidelity_probabilities", "fidelity_label", "points", "fidelity_data_free"}
    lo, hi = d["fidelity_probabilities_ci95"]
    assert lo < d["fidelity_probabilities"] < hi and d["eval_rows"] == len(y[1200:])
    assert "holds 600 unlabelled in-distribution rows" in d["attacker"]


def test_extraction_synthesises_queries_beyond_the_pool(target: Target, data: Data) -> None:
    x, y = data
    res = extract(target, x[600:650], (x[1200:], y[1200:]), [120], outputs=["label"])
    assert res.queries == 2 * 120 and [p.output for p in res.points] == ["label", "data-free"]


def test_inversion_white_and_black_box(target: Target, black_box: Target, data: Data) -> None:
    x, y = data
    white = invert(target, (x[1000:], y[1000:]), steps=30)
    assert white.method == "gradient" and white.identification_rate >= 0.8
    assert white.reconstructions.shape == (10, 64)
    assert ((white.reconstructions >= 0) & (white.reconstructions <= 1)).all()
    black = invert(black_box, (x[1000:], y[1000:]), steps=10, nes_samples=5, classes=[0, 1])
    assert black.method == "nes" and black.queries == 10 * (2 * 2 * 5 + 2) + 2


def test_evasion_white_box_beats_nothing_and_counts_queries(target: Target, black_box: Target,
                                                            data: Data) -> None:
    x, y = data
    wb = evade(target, x[1200:], y[1200:], eps=0.15, samples=20, white_box=["pgd"],
               black_box=["square"], steps=10, square_iters=50)
    pgd = next(r for r in wb.results if r.attack == "pgd")
    sq = next(r for r in wb.results if r.attack == "square")
    assert pgd.success_rate > 0.3 and pgd.queries is None and pgd.mean_linf <= 0.15 + 1e-6
    assert sq.queries is not None and sq.queries > 0
    bb = evade(black_box, x[1200:], y[1200:], eps=0.15, samples=10, white_box=["pgd"],
               black_box=["hopskipjump"], hsj_iterations=2)
    assert dict(bb.skipped)["pgd"].startswith("no white-box access")
    assert bb.results[0].attack == "hopskipjump" and bb.results[0].queries


def test_query_budget_is_enforced(target: Target) -> None:
    counter = target.counter(budget=5)
    counter(np.zeros((5, 64), np.float32))
    with pytest.raises(QueryBudgetExceeded):
        counter(np.zeros((1, 64), np.float32))
    assert counter.count == 5 and target.queries == 5
