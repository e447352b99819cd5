"""From a model record to campaign roles and reference-model trainers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cpmap.models.datasets import Dataset
from cpmap.redteam.campaign import split_data
from cpmap.redteam.loader import _members, reference_trainer


def _ds() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((120, 8)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    return Dataset("toy", "ef" * 32, x, y, ("a", "b"))


def test_members_come_from_the_recorded_split() -> None:
    ds = _ds()
    rec = {"datasets": [{"digest": ds.digest, "split": {"test_size": 0.25, "seed": 0}}]}
    held, train = _members(ds, rec)
    assert train is not None and len(train.y) == 90 and len(held.y) == 30
    other, none = _members(ds, {"datasets": [{"digest": "00" * 32, "split": {}}]})
    assert none is None and len(other.y) == 120
    roles = split_data((held.x, held.y), (train.x, train.y))
    assert roles.members is not None and roles.population is not None
    assert len(roles.evaluation[0]) + len(roles.population[0]) == 30
    assert split_data((held.x, held.y)).members is None


def test_reference_trainers() -> None:
    ds = _ds()
    rec = {"config": {"arch": "mlp", "hidden": [8], "epochs": 2, "lr": 0.01, "seed": 0,
                      "adversarial": "pgd", "dp_epsilon": 1.0}}
    for mode in ("mlp", "target"):
        fit = reference_trainer(rec, ds, mode)
        assert fit is not None
        p = np.asarray(fit(ds.x[:60], ds.y[:60], 1)(ds.x[60:]))
        assert p.shape == (60, 2) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_a_dp_sgd_targets_references_are_dp_sgd_models(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """References trained without DP-SGD's noise do not follow the target's recipe: the
    attack would measure the recipe (the reference trainer dropped dp_epsilon)."""
    from cpmap.robustness import training

    seen: list[Any] = []

    def fake(ds: Any, cfg: Any, *a: Any, **k: Any) -> Any:
        seen.append(cfg)
        raise RuntimeError("stop")

    monkeypatch.setattr(training, "train", fake)
    ds = _ds()
    rec = {"config": {"arch": "mlp", "hidden": [8], "epochs": 3, "lr": 0.1, "seed": 0,
                      "dp_epsilon": 4.0, "dp_delta": 1e-5, "max_grad_norm": 0.5,
                      "unsafe_reproducible_dp": True, "adversarial": "pgd"}}
    fit = reference_trainer(rec, ds)
    assert fit is not None
    with pytest.raises(RuntimeError):
        fit(ds.x[:60], ds.y[:60], 3)
    cfg = seen[0]
    assert (cfg.dp_epsilon, cfg.max_grad_norm, cfg.epochs, cfg.seed) == (4.0, 0.5, 3, 3)
    assert cfg.adversarial is None and cfg.unsafe_reproducible_dp is False
    assert cfg.dp_delta < 1 / 60
