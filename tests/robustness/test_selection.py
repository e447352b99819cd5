"""Attacks by model kind: black-box for a tree, white-box for a torch network, said in words."""

from __future__ import annotations

import numpy as np

from cpmap.models.adapters import SklearnModel, TorchModel
from cpmap.models.archs import ArchSpec, build
from cpmap.robustness.selection import plan


def test_a_forest_gets_black_box_attacks_and_a_statement_saying_so() -> None:
    from sklearn.ensemble import RandomForestClassifier

    x = np.random.default_rng(0).random((40, 3))
    forest = SklearnModel(RandomForestClassifier(5, random_state=0).fit(x, x[:, 0] > 0.5))
    p = plan(forest)
    assert p.attacks == ("square", "hsj") and p.access == "black-box"
    assert "RandomForestClassifier" in p.statement and "were not run" in p.statement


def test_a_torch_network_gets_white_box_attacks_and_requests_are_kept() -> None:
    spec = ArchSpec("mlp", 4, 2, (8,))
    net = TorchModel(build(spec), spec)
    p = plan(net)
    assert "pgd" in p.attacks and p.access == "white-box"
    assert p.statement.startswith("white-box attacks (") and "torch mlp" in p.statement
    assert plan(net, ["fgsm"]).attacks == ("fgsm",)
