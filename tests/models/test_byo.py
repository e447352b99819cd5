"""A user's own models, trained on their own CSV, evaluated by cpmap at their own accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cpmap.cli import main as _main
from cpmap.core.workspace import Workspace


def main(argv: list[str]) -> int:
    """``cpmap ARGV`` in process: its exit status."""
    try:
        _main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


FEATURES = ["age", "income", "debt_ratio", "region"]
REGIONS = ["east", "north", "south", "west"]


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 75, n)
    income = rng.normal(52000, 18000, n).round(2).clip(8000, None)
    debt = rng.uniform(0, 0.9, n).round(3)
    region = rng.choice(REGIONS, n)
    score = 4e-5 * income - 3.0 * debt + 0.01 * (age - 40) + (region == "north") * 0.4
    score = score + rng.normal(0, 0.4, n)
    return pd.DataFrame({"customer_id": np.arange(n), "age": age, "income": income,
                         "debt_ratio": debt, "region": region,
                         "default": (score < np.median(score) - 0.3).astype(int)})


@pytest.fixture
def project(ws: Workspace, tmp_path: Path) -> tuple[Workspace, pd.DataFrame, pd.DataFrame]:
    train, test = _table(400, 1), _table(200, 2)
    test.to_csv(tmp_path / "test.csv", index=False)
    assert main(["data", "register", "holdout", str(tmp_path / "test.csv"),
                 "--workspace", str(ws.root)]) == 0
    return ws, train, test


def _forest(train: pd.DataFrame) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                            remainder="passthrough")
    pipe = Pipeline([("pre", pre), ("rf", RandomForestClassifier(30, random_state=0))])
    return pipe.fit(train[FEATURES], train["default"])


def _evaluate(ws: Workspace, ref: str, attacks: list[str] | None = None) -> Any:
    from cpmap.robustness.evaluate import AttackSettings
    from cpmap.robustness.service import evaluate_model

    return evaluate_model(ws, ref, "holdout@1", [0.1], attacks, samples=0, seed=0,
                          settings=AttackSettings(square_iters=20, hsj_iterations=2))


def test_a_users_random_forest_scores_its_own_accuracy(
        project: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    import skops.io as sio

    ws, train, test = project
    pipe = _forest(train)
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps(pipe))
    argv = ["registry", "register", "credit", "--model", str(path), "--framework", "sklearn",
            "--data", "holdout@1", "--target", "default", "--no-scan",
            "--trust-type", "sklearn.tree._tree.Tree", "--workspace", str(ws.root)]
    assert main(argv) == 0
    res = _evaluate(ws, "credit@1", ["square"])
    own = pipe.score(test[FEATURES], test["default"])
    assert abs(res.evaluation.clean_accuracy - own) <= 0.01
    assert res.model_digest == hashlib.sha256(path.read_bytes()).hexdigest()  # as registered
    assert res.plan.startswith("black-box") and "Pipeline" in res.plan
    assert not [f for f in res.evaluation.findings if f.rule_id == "CP4-DEGENERATE-MODEL"]
    assert "feature names" not in capsys.readouterr().err


def test_a_users_torch_mlp_scores_its_own_accuracy(project: Any, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    ws, train, test = project
    nums = ["age", "income", "debt_ratio"]
    center, scale = train[nums].mean(), train[nums].std()

    def rows(df: pd.DataFrame) -> torch.Tensor:
        onehot = np.stack([(df["region"] == r).to_numpy() for r in REGIONS], axis=1)
        x = np.concatenate([((df[nums] - center) / scale).to_numpy(), onehot], axis=1)
        return torch.tensor(x, dtype=torch.float32)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = rows(train), torch.tensor(train["default"].to_numpy())
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        own = float((net(rows(test)).argmax(1).numpy() == test["default"].to_numpy()).mean())
    save_file(net.state_dict(), str(tmp_path / "mlp.safetensors"))
    (tmp_path / "arch.json").write_text(json.dumps(
        {"arch": "mlp", "input_dim": 7, "n_classes": 2, "hidden": [16]}))
    schema = {"input": "array", "features": [
        *({"name": n, "type": "numeric", "center": float(center[n]), "scale": float(scale[n])}
          for n in nums), {"name": "region", "type": "categorical"}]}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    assert main(["registry", "register", "mlp", "--model", str(tmp_path / "mlp.safetensors"),
                 "--framework", "torch", "--data", "holdout@1", "--target", "default",
                 "--arch", str(tmp_path / "arch.json"), "--schema", str(tmp_path / "schema.json"),
                 "--no-scan", "--workspace", str(ws.root)]) == 0
    res = _evaluate(ws, "mlp@1", ["fgsm", "pgd"])
    assert abs(res.evaluation.clean_accuracy - own) <= 0.01
    assert res.plan.startswith("white-box")
    assert "CP4-MASK-UNBOUNDED" not in {f.rule_id for f in res.evaluation.findings}


def test_a_one_class_model_is_a_finding_not_a_pass(project: Any, tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.dummy import DummyClassifier

    ws, train, _test = project
    dummy = DummyClassifier(strategy="most_frequent").fit(train[FEATURES], train["default"])
    (tmp_path / "dummy.skops").write_bytes(sio.dumps(dummy))
    assert main(["registry", "register", "dummy", "--model", str(tmp_path / "dummy.skops"),
                 "--framework", "sklearn", "--data", "holdout@1", "--target", "default",
                 "--no-scan", "--workspace", str(ws.root)]) == 0
    assert main(["robustness", "evaluate", "--model", "dummy@1", "--data", "holdout@1",
                 "--eps", "0.1", "--attacks", "square", "--square-iters", "5",
                 "--workspace", str(ws.root)]) == 1
    res = _evaluate(ws, "dummy@1", ["square"])
    assert "CP4-DEGENERATE-MODEL" in {f.rule_id for f in res.evaluation.findings}


def test_register_own_needs_framework_data_and_target(project: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    ws, _train, _test = project
    (tmp_path / "m.skops").write_bytes(b"x")
    assert main(["registry", "register", "m", "--model", str(tmp_path / "m.skops"),
                 "--framework", "sklearn", "--workspace", str(ws.root)]) == 2
    assert "--framework, --data and --target" in capsys.readouterr().err
