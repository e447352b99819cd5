"""A user's own DataFrame-fed pipeline served by named, typed columns, checked against the
feature schema the registry signed (names, types, categories, training ranges)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.gateway.conftest import attach_passing, run_cli

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import Workspace
from cpmap.gateway.config import GatewayConfig
from cpmap.gateway.errors import Refusal
from cpmap.gateway.table import from_schema, parse_columns, to_columns
from cpmap.provenance.predicates import DataSignature

FEATURES = ["age", "income", "debt_ratio", "region"]
REGIONS = ["east", "north", "south", "west"]


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(52000, 18000, n).round(2).clip(8000, None)
    debt, region = rng.uniform(0, 0.9, n).round(3), rng.choice(REGIONS, n)
    age = rng.integers(18, 75, n)
    score = 4e-5 * income - 3.0 * debt + (region == "north") * 0.4 + rng.normal(0, 0.4, n)
    return pd.DataFrame({"age": age, "income": income, "debt_ratio": debt, "region": region,
                         "default": (score < np.median(score) - 0.3).astype(int)})


# CP5 measured this forest stolen after 10 queries in every output form: budget 5 a day
STOLEN_EARLY = {"target_accuracy": 0.9, "queries": 800, "rounding_decimals": 1, "points": [
    {"output": form, "budget": 10, "fidelity": 0.95, "accuracy": 0.9}
    for form in ("probabilities", "label")]}


@pytest.fixture
def credit(ws: Workspace, tmp_path: Path) -> tuple[Workspace, Any, pd.DataFrame]:
    """credit@1: a ColumnTransformer + RandomForest pipeline, registered as it is, gated."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from cpmap.provenance.datasets import get_dataset
    from cpmap.registry.intake import register_own
    from cpmap.registry.versions import get

    train = _table(300, 1)
    train.to_csv(tmp_path / "train.csv", index=False)
    assert run_cli_plain(["data", "register", "train", str(tmp_path / "train.csv"),
                          "--workspace", str(ws.root)]) == 0
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                            remainder="passthrough")
    pipe = Pipeline([("pre", pre), ("rf", RandomForestClassifier(15, random_state=0))])
    pipe.fit(train[FEATURES], train["default"])
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps(pipe))
    register_own(ws, "credit", path, framework="sklearn", data="train@1", target="default",
                 trusted_types=("sklearn.tree._tree.Tree",))
    record(Evidence.of(DataSignature(verdict=Verdict.PASS),
                       [Subject("train.csv", get_dataset(ws, "train@1").digest)]), ws)
    attach_passing(ws, get(ws, "credit@1"), path.name, extraction=STOLEN_EARLY)
    return ws, pipe, _table(40, 2)


def run_cli_plain(argv: list[str]) -> int:
    from cpmap.cli import main

    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def columns(df: pd.DataFrame) -> dict[str, Any]:
    types = {"age": "INT64", "income": "FP64", "debt_ratio": "FP64", "region": "BYTES"}
    return {"inputs": [{"name": c, "datatype": types[c], "shape": [len(df)],
                        "data": df[c].tolist()} for c in FEATURES]}


def test_named_columns_answer_exactly_what_the_pipeline_answers(
        credit: Any, serve: Any, key: Any) -> None:
    ws, pipe, holdout = credit
    h = {"Authorization": "Bearer " + key(scopes=("infer:credit",), output="full",
                                          budget="10000/day")}
    gw = serve("credit@1")
    meta = httpx.get(f"{gw.url}/v2/models/credit", headers=h).json()
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("age", "INT64"), ("income", "FP64"), ("debt_ratio", "FP64"), ("region", "BYTES")]
    assert meta["inputs"][3]["parameters"]["categories"] == REGIONS
    assert meta["inputs"][1]["parameters"]["min"] >= 0  # never negative in training
    r = httpx.post(f"{gw.url}/v2/models/credit/infer", json=columns(holdout), headers=h)
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["outputs"][0]["data"]).reshape(len(holdout), 2)
    own = pipe.predict_proba(holdout[FEATURES])
    np.testing.assert_allclose(got, np.round(own, 6), atol=1e-6)


def _mutate(doc: dict[str, Any], column: str, data: list[Any] | None = None,
            **fields: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    for t in out["inputs"]:
        if t["name"] == column:
            if data is not None:
                t["data"] = data
            t.update(fields)
    return out


@pytest.mark.parametrize(("case", "needle"), [
    ("missing", "missing column(s) region"), ("unknown", "must be one of the model's columns"),
    ("twice", "given twice"), ("category", "'mars' is not one of east, north, south, west"),
    ("negative", "values must lie in [0,"), ("huge", "values must lie in"),
    ("fraction", "whole numbers"), ("lengths", "shape must be [2]"),
    ("tensor", "must be one of the model's columns"), ("string", "must be a number"),
    ("bool", "must be a number"), ("bytes-number", "datatype must be BYTES"),
])
def test_the_column_schema_refuses(credit: Any, serve: Any, key: Any, case: str,
                                   needle: str) -> None:
    _ws, _pipe, holdout = credit
    h = {"Authorization": "Bearer " + key(scopes=("infer:credit",))}
    gw = serve("credit@1")
    good = columns(holdout.head(2))
    doc = {
        "missing": {"inputs": good["inputs"][:3]},
        "unknown": {"inputs": [*good["inputs"], {"name": "zip", "datatype": "FP64",
                                                 "shape": [2], "data": [1.0, 2.0]}]},
        "twice": {"inputs": [*good["inputs"], good["inputs"][0]]},
        "category": _mutate(good, "region", ["mars", "east"]),
        "negative": _mutate(good, "income", [-5.0, 100.0]),
        "huge": _mutate(good, "debt_ratio", [0.5, 9.0]),
        "fraction": _mutate(good, "age", [30.5, 40]),
        "lengths": _mutate(good, "income", [1e4, 2e4, 3e4], shape=[3]),
        "tensor": {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 7],
                               "data": [0.5] * 7}]},
        "string": _mutate(good, "income", ["1e4", 2e4]),
        "bool": _mutate(good, "debt_ratio", [True, 0.1]),
        "bytes-number": _mutate(good, "region", [1, 2], datatype="INT64"),
    }[case]
    r = httpx.post(f"{gw.url}/v2/models/credit/infer", json=doc, headers=h)
    assert r.status_code == 400 and needle in r.json()["error"], r.text


def test_gateway_check_served_in_staging_attacks_the_columns(
        credit: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws, _pipe, _holdout = credit
    code, out, err = run_cli(capsys, "gateway", "check", "credit", "--serve", "credit@1",
                             "--format", "json", "--workspace", str(ws.root))
    doc = json.loads(out)
    by = {c["check"]: c for c in doc["checks"]}
    assert code == 0, [c for c in doc["checks"] if not c["ok"]]
    for name in ("missing-column", "unknown-column", "unknown-category", "out-of-range",
                 "legitimate-request", "extraction-within-budget"):
        assert by[name]["ok"], by[name]
    measured = by["extraction-within-budget"]["measured"]
    assert measured["answered"] == 5 and measured["refused_with"] == 429  # all the budget


def test_serve_refuses_a_check_of_another_model(credit: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ws, _pipe, _holdout = credit
    code, _out, err = run_cli(capsys, "gateway", "check", "digits", "--serve", "credit@1",
                              "--workspace", str(ws.root))
    assert code == 2 and "not a version of digits" in err


SCHEMA = {"columns": [{"name": "a", "kind": "numeric", "min": 0.0, "max": 10.0,
                       "integer": True},
                      {"name": "b", "kind": "numeric", "min": -1.0, "max": 1.0},
                      {"name": "c", "kind": "onehot", "categories": ["x", "y"]}]}
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                           | st.text(max_size=5),
                           lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                           max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "b", "c", "d"])},
                                      optional={"datatype": st.sampled_from(
                                          ["FP64", "INT64", "BYTES", "BOOL"]),
                                          "shape": json_values, "data": json_values}),
                max_size=4) | json_values)
def test_parse_columns_refuses_anything_else_with_a_4xx(inputs: Any) -> None:
    spec = from_schema(SCHEMA, 0.1)
    try:
        rows = parse_columns(inputs, spec, GatewayConfig())
    except Refusal as r:
        assert 400 <= r.status < 500
    else:
        assert rows.shape[1] == 4 and np.isfinite(rows).all()


def test_rows_and_columns_round_trip() -> None:
    spec = from_schema(SCHEMA, 0.0)
    rows = np.array([[0.3, 0.25, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    back = parse_columns(to_columns(rows, spec), spec, GatewayConfig())
    np.testing.assert_allclose(back, rows)
