"""The other ways a user brings a model: ONNX (skl2onnx's export, labels first and a ZipMap of
probabilities) and a pickle trusted by digest; each registered as it is, evaluated at its own
accuracy, gated and served by named columns with the model's own answers."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.gateway.conftest import attach_passing, run_cli
from tests.gateway.test_gw_table import FEATURES, REGIONS, _table, columns, run_cli_plain

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import Workspace
from cpmap.provenance.predicates import DataSignature

NUMS = ["age", "income", "debt_ratio"]


@pytest.fixture
def data(ws: Workspace, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from cpmap.provenance.datasets import get_dataset

    train, holdout = _table(300, 1), _table(60, 2)
    train.to_csv(tmp_path / "train.csv", index=False)
    assert run_cli_plain(["data", "register", "train", str(tmp_path / "train.csv"),
                          "--workspace", str(ws.root)]) == 0
    record(Evidence.of(DataSignature(verdict=Verdict.PASS),
                       [Subject("train.csv", get_dataset(ws, "train@1").digest)]), ws)
    return train, holdout


def _array(df: pd.DataFrame, center: pd.Series, scale: pd.Series) -> np.ndarray:
    onehot = np.stack([(df["region"] == r).to_numpy() for r in REGIONS], axis=1)
    return np.concatenate([((df[NUMS] - center) / scale).to_numpy(), onehot],
                          axis=1).astype(np.float32)


def _served_probs(ws: Workspace, serve: Any, key: Any, name: str,
                  holdout: pd.DataFrame) -> np.ndarray:
    from cpmap.registry.versions import get

    attach_passing(ws, get(ws, f"{name}@1"), name)
    token = key(name, scopes=(f"infer:{name}",), output="full", budget="10000/day")
    gw = serve(f"{name}@1")
    r = httpx.post(f"{gw.url}/v2/models/{name}/infer", json=columns(holdout),
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return np.asarray(r.json()["outputs"][0]["data"]).reshape(len(holdout), -1)


def _clean(ws: Workspace, ref: str) -> float:
    from cpmap.robustness.evaluate import AttackSettings
    from cpmap.robustness.service import evaluate_model

    res = evaluate_model(ws, ref, "train@1", [0.1], ["square"], samples=0, seed=0,
                         settings=AttackSettings(square_iters=5))
    assert res.plan.startswith("black-box")
    return float(res.evaluation.clean_accuracy or 0.0)


def test_an_onnx_export_is_registered_evaluated_and_served(
        ws: Workspace, tmp_path: Path, data: Any, serve: Any, key: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    train, holdout = data
    center, scale = train[NUMS].mean(), train[NUMS].std()
    lr = LogisticRegression(max_iter=500).fit(_array(train, center, scale), train["default"])
    onx = convert_sklearn(lr, initial_types=[("x", FloatTensorType([None, 7]))])
    (tmp_path / "credit.onnx").write_bytes(onx.SerializeToString())
    schema = {"input": "array", "features": [
        *({"name": n, "type": "numeric", "center": float(center[n]), "scale": float(scale[n])}
          for n in NUMS), {"name": "region", "type": "categorical"}]}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    code, _out, err = run_cli(capsys, "registry", "register", "lr", "--model",
                              str(tmp_path / "credit.onnx"), "--framework", "onnx", "--data",
                              "train@1", "--target", "default", "--schema",
                              str(tmp_path / "schema.json"), "--no-scan", "--workspace",
                              str(ws.root))
    assert code == 0, err
    own = lr.score(_array(train, center, scale), train["default"])
    assert abs(_clean(ws, "lr@1") - own) <= 0.01
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    zipmap = session.run(None, {"x": _array(holdout, center, scale)})[1]
    expected = np.asarray([[row[k] for k in sorted(row)] for row in zipmap])
    np.testing.assert_allclose(_served_probs(ws, serve, key, "lr", holdout),
                               np.round(expected, 6), atol=2e-6)


def test_a_trusted_pickle_is_registered_evaluated_and_served(
        ws: Workspace, tmp_path: Path, data: Any, serve: Any, key: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    train, holdout = data
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                            remainder="passthrough")
    pipe = Pipeline([("pre", pre), ("rf", RandomForestClassifier(10, random_state=0))])
    pipe.fit(train[FEATURES], train["default"])
    path = tmp_path / "credit.pkl"
    path.write_bytes(pickle.dumps(pipe))
    register = ["registry", "register", "pkl", "--model", str(path), "--framework", "sklearn",
                "--data", "train@1", "--target", "default", "--no-scan",
                "--workspace", str(ws.root)]
    code, _out, err = run_cli(capsys, *register)
    assert code == 1 and "cpmap models trust" in err, err  # refused until its digest is trusted
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert run_cli(capsys, "models", "trust", digest, "--note", "built by our CI, reviewed",
                   "--workspace", str(ws.root))[0] == 0
    code, _out, err = run_cli(capsys, *register)
    assert code == 0, err
    assert abs(_clean(ws, "pkl@1") - pipe.score(train[FEATURES], train["default"])) <= 0.01
    np.testing.assert_allclose(_served_probs(ws, serve, key, "pkl", holdout),
                               np.round(pipe.predict_proba(holdout[FEATURES]), 6), atol=1e-6)
