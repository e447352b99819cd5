"""A one-class or base-rate model is a finding (evaluation and training), never a pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cpmap.cli import main
from cpmap.core.workspace import Workspace
from cpmap.robustness.degenerate import RULE, degenerate_findings


def test_one_predicted_class_is_degenerate() -> None:
    y = np.array([0] * 70 + [1] * 30)
    [f] = degenerate_findings(np.zeros(100, np.int64), y)
    assert f.rule_id == RULE and "single class" in f.message
    assert f.properties["base_rate"] == 0.7


def test_accuracy_at_the_base_rate_is_degenerate_and_above_it_is_not() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.6).astype(np.int64)
    noise = rng.integers(0, 2, 400)  # two classes predicted, at chance
    assert [f.rule_id for f in degenerate_findings(noise, y)] == [RULE]
    good = np.where(rng.random(400) < 0.9, y, 1 - y)
    assert degenerate_findings(good, y) == []
    assert degenerate_findings(np.zeros(0, np.int64), np.zeros(0, np.int64)) == []


def test_pgd_training_that_collapses_warns_and_exits_1(
        ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    x = rng.random((240, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        y=(x[:, 0] + 0.1 * rng.random(240) > 0.55).astype(int))
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SystemExit) as done:  # eps as wide as the range: nothing to learn
        main(["train", "--data", str(tmp_path / "t.csv"), "--label", "y", "--name", "c",
              "--arch", "mlp", "--epochs", "2", "--adversarial", "pgd", "--eps", "1.0",
              "--workspace", str(ws.root)])
    assert done.value.code == 1
    assert RULE in capsys.readouterr().err
