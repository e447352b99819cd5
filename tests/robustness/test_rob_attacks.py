"""Attacks stay inside their budget and the valid range, are seeded, and actually attack."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from cpmap.models import accuracy
from cpmap.robustness import attacks as atk
from cpmap.robustness.blackbox import hop_skip_jump, square


def _t(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(x), torch.from_numpy(y)


@pytest.mark.parametrize("name", ["fgsm", "pgd", "pgd-l2", "apgd"])
def test_white_box_attacks_respect_eps_and_box(name: str, mlp: Any, heldout: Any) -> None:
    x, y = _t(*heldout)
    eps = 0.5 if name == "pgd-l2" else 0.1
    if name == "fgsm":
        adv = atk.fgsm(mlp.logits, x, y, eps)
    elif name == "apgd":
        adv = atk.apgd_ce(mlp.logits, x, y, eps, steps=20)
    else:
        adv = atk.pgd(mlp.logits, x, y, eps, norm="l2" if name == "pgd-l2" else "linf")
    d = (adv - x).flatten(1)
    size = d.norm(dim=1) if name == "pgd-l2" else d.abs().max(dim=1).values
    assert float(size.max()) <= eps + 1e-5
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    clean = accuracy(mlp, x.numpy(), y.numpy())
    assert accuracy(mlp, adv.numpy(), y.numpy()) < clean - 0.1


def test_pgd_is_seeded_and_stronger_than_fgsm(mlp: Any, heldout: Any) -> None:
    x, y = _t(*heldout)
    a = atk.pgd(mlp.logits, x, y, 0.1, seed=3)
    b = atk.pgd(mlp.logits, x, y, 0.1, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, atk.pgd(mlp.logits, x, y, 0.1, seed=4))
    f = atk.fgsm(mlp.logits, x, y, 0.1)
    assert accuracy(mlp, a.numpy(), y.numpy()) <= accuracy(mlp, f.numpy(), y.numpy())
    r = atk.pgd(mlp.logits, x, y, 0.1, seed=3, restarts=3)
    assert accuracy(mlp, r.numpy(), y.numpy()) <= accuracy(mlp, a.numpy(), y.numpy())


def test_apgd_checkpoints_follow_the_paper() -> None:
    assert atk._checkpoints(100)[:5] == [0, 22, 41, 57, 70]


def test_attacks_do_not_touch_parameter_gradients(mlp: Any, heldout: Any) -> None:
    x, y = _t(*heldout)
    for p in mlp.module.parameters():
        p.grad = None
    atk.pgd(mlp.logits, x, y, 0.1, steps=3)
    atk.apgd_ce(mlp.logits, x, y, 0.1, steps=3)
    assert all(p.grad is None for p in mlp.module.parameters())


def test_pgd_matches_art_step_for_step(mlp: Any, heldout: Any) -> None:
    art = pytest.importorskip("art.attacks.evasion")
    from art.estimators.classification import PyTorchClassifier

    x, y = heldout
    clf = PyTorchClassifier(model=mlp.module, loss=torch.nn.CrossEntropyLoss(),
                            input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0))
    theirs = art.ProjectedGradientDescent(clf, norm=np.inf, eps=0.1, eps_step=0.01, max_iter=10,
                                          num_random_init=0, batch_size=512,
                                          verbose=False).generate(x, y=y)
    ours = atk.pgd(mlp.logits, *_t(x, y), 0.1, steps=10, alpha=0.01, random_start=False)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-5)


def test_square_counts_queries_and_stays_in_the_box(mlp: Any, heldout: Any) -> None:
    x, y = heldout
    adv, queries = square(mlp, x, y, 0.1, n_iters=100, image_shape=(1, 8, 8), seed=1)
    assert np.abs(adv - x).max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert len(x) <= queries <= len(x) * 101
    assert accuracy(mlp, adv, y) < accuracy(mlp, x, y) - 0.05
    again, q2 = square(mlp, x, y, 0.1, n_iters=100, image_shape=(1, 8, 8), seed=1)
    assert q2 == queries and np.array_equal(adv, again)


def test_square_and_hsj_attack_a_scikit_learn_model(digits: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    from cpmap.models import SklearnModel

    x, y = digits
    model = SklearnModel(LogisticRegression(max_iter=300).fit(x[:1000], y[:1000]))
    xs, ys = x[1000:1060], y[1000:1060]
    adv, _q = square(model, xs, ys, 0.2, n_iters=80, seed=0)
    assert accuracy(model, adv, ys) < accuracy(model, xs, ys)
    dist, queries = hop_skip_jump(model, xs, ys, iterations=5, seed=0)
    assert queries > 0 and np.isfinite(dist).sum() >= len(ys) // 2
    assert float(np.nanmin(dist)) >= 0.0
