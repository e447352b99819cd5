"""Evaluation results, the documented JSON shape, and the gradient-masking checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from cpmap.errors import InputError
from cpmap.models import ArchSpec, SklearnModel, TorchModel
from cpmap.robustness.checks import blackbox_beats_whitebox, nonmonotonic
from cpmap.robustness.evaluate import AttackResult, AttackSettings, Evaluation, evaluate

FAST = AttackSettings(steps=5, apgd_steps=10, square_iters=40, image_shape=(1, 8, 8))


def test_evaluation_json_has_exactly_the_documented_shape(mlp: Any, heldout: Any) -> None:
    x, y = heldout
    ev = evaluate(mlp, x[:80], y[:80], [0.05, 0.1], ["fgsm", "pgd", "square"], FAST)
    d = ev.to_dict()
    assert set(d) == {"clean_accuracy", "results", "worst_case"}
    assert [(r["attack"], r["eps"]) for r in d["results"]] == [
        ("fgsm", 0.05), ("fgsm", 0.1), ("pgd", 0.05), ("pgd", 0.1), ("square", 0.05),
        ("square", 0.1)]
    for r in d["results"]:
        assert set(r) == {"attack", "eps", "robust_accuracy", "queries"}
        assert 0.0 <= r["robust_accuracy"] <= d["clean_accuracy"]
        assert (r["queries"] is None) == (r["attack"] != "square")
    # per example, so never above the weakest single attack
    assert ev.robust_at(0.1) <= min(r["robust_accuracy"] for r in d["results"]
                                    if r["eps"] == 0.1)
    assert [w["eps"] for w in d["worst_case"]] == [0.05, 0.1]
    assert not ev.findings


def test_white_box_attacks_on_a_scikit_learn_model_are_refused(digits: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = digits
    model = SklearnModel(LogisticRegression(max_iter=200).fit(x[:300], y[:300]))
    with pytest.raises(InputError, match="white-box attacks need a PyTorch model"):
        evaluate(model, x[:10], y[:10], [0.1], ["pgd"])
    with pytest.raises(InputError, match="unknown attack"):
        evaluate(model, x[:10], y[:10], [0.1], ["deepfool"])


def _ev(rows: list[tuple[str, float, float]]) -> Evaluation:
    return Evaluation(0.9, tuple(AttackResult(a, e, r) for a, e, r in rows), 200)


def test_accuracy_rising_with_eps_is_flagged() -> None:
    found = nonmonotonic(_ev([("pgd", 0.05, 0.5), ("pgd", 0.1, 0.7), ("pgd", 0.2, 0.1)]))
    assert [f.rule_id for f in found] == ["CP4-MASK-NONMONOTONIC"]
    assert "AML.T0043" in found[0].tags
    assert not nonmonotonic(_ev([("pgd", 0.05, 0.5), ("pgd", 0.1, 0.505)]))


def test_black_box_beating_white_box_is_flagged() -> None:
    ev = _ev([("pgd", 0.1, 0.8), ("square", 0.1, 0.3)])
    found = blackbox_beats_whitebox(ev, ["pgd"], ["square"])
    assert [f.rule_id for f in found] == ["CP4-MASK-BLACKBOX"]
    assert found[0].message == ("white-box attack weaker than black-box at eps 0.1: robust "
                                "accuracy 0.800 under the best white-box attack, 0.300 under "
                                "the best black-box attack")


class _Masked(torch.nn.Module):
    """A model that hides its gradients: it rounds its input to 1/4 steps first."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(torch.round(x * 4) / 4)
        return out


def test_a_gradient_masking_model_is_caught(mlp: Any, heldout: Any) -> None:
    x, y = heldout
    masked = TorchModel(_Masked(mlp.module), ArchSpec("module", 64, 10, ()), kind="torch")
    ev = evaluate(masked, x[:100], y[:100], [0.1, 0.3], ["pgd", "square"],
                  AttackSettings(steps=5, square_iters=150, image_shape=(1, 8, 8)))
    rules = {f.rule_id for f in ev.findings}
    assert "CP4-MASK-UNBOUNDED" in rules
    assert "CP4-MASK-BLACKBOX" in rules
    assert np.isclose(ev.robust_at(0.3, ["pgd"]) or 0, ev.clean_accuracy, atol=0.05)
