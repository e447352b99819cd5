from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cpmap.errors import InputError
from cpmap.privacy.synth import fit, sample
from cpmap.privacy.synth_eval import evaluate

Cli = Callable[..., tuple[int, str, str]]


def test_seeded_and_typed(customers_frame: pd.DataFrame) -> None:
    a = sample(fit(customers_frame, seed=3), 200, seed=3)
    b = sample(fit(customers_frame, seed=3), 200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert {"email", "ssn", "credit_card", "name", "customer_id"}.isdisjoint(a.columns)
    assert a["age"].dtype.kind == "i" and set(a["gender"]) <= {"F", "M", "X"}
    assert a["default"].isin([0, 1]).all()


def test_fidelity_and_privacy_scores(customers_frame: pd.DataFrame) -> None:
    cols = ["age", "gender", "income", "loan_amount", "credit_score", "default"]
    train, hold = customers_frame[cols].iloc[:200], customers_frame[cols].iloc[200:]
    syn = sample(fit(train, seed=1), 300, seed=1)
    s = evaluate(train, syn, hold, "default")
    assert s.mean_column_distance < 0.2 and s.exact_copy_rate == 0.0
    assert s.dcr_ratio > 0.5 and s.verdict == "pass"
    assert s.tstr_accuracy is not None and 0 <= s.tstr_accuracy <= 1
    copied = evaluate(train, train.copy(), hold, "default")
    assert copied.exact_copy_rate == 1.0 and copied.verdict == "fail"


def test_scores_carry_the_verdict_type(customers_frame: pd.DataFrame) -> None:
    from cpmap.core.evidence import Verdict

    cols = ["age", "income", "default"]
    train, hold = customers_frame[cols].iloc[:200], customers_frame[cols].iloc[200:]
    copied = evaluate(train, train.copy(), hold, "default")
    assert copied.verdict is Verdict.FAIL
    value = copied.to_dict()["verdict"]
    assert type(value) is str and value == "fail"  # JSON and tables get the plain string


def test_dp_needs_public_domains(customers_frame: pd.DataFrame) -> None:
    pytest.importorskip("opendp")
    frame = customers_frame[["age", "gender"]]
    with pytest.raises(InputError, match="public domain"):
        fit(frame, epsilon=1.0, bounds={"age": (18, 90)}, categories={"gender": ()})
    m = fit(frame, epsilon=1.0, bounds={"age": (18, 90)}, categories={"gender": ("F", "M", "X")})
    s = sample(m, 100)
    assert s["age"].between(18, 90).all() and set(s["gender"]) <= {"F", "M", "X"}


def test_cli_synthesize_and_evaluate(cli: Cli, customers_csv: Path) -> None:
    pytest.importorskip("opendp")
    out = customers_csv.parent / "syn.csv"
    code, _, err = cli("data", "register", "customers", str(customers_csv))
    assert code == 0, err
    code, text, _ = cli("privacy", "synthesize", str(customers_csv), "-o", str(out), "-n", "150",
                        "--epsilon", "1", "--bounds", "age=18,90", "--categories",
                        "gender=F,M,X", "--integer", "age", "-f", "json")
    assert code == 0
    data = json.loads(text)
    assert data["columns"] == ["age", "gender"] and len(pd.read_csv(out)) == 150
    assert pd.api.types.is_integer_dtype(pd.read_csv(out)["age"])
    code, text, _ = cli("privacy", "budget", "customers", "-f", "json")
    assert json.loads(text)[0]["spent_epsilon"] == pytest.approx(1.0)
    code, text, _ = cli("privacy", "evaluate-synthetic", str(customers_csv), str(out), "-f",
                        "json")
    assert code in (0, 1) and "dcr_ratio" in json.loads(text)


@pytest.mark.parametrize(("args", "msg"), [
    (("synthesize", "{data}", "-o", "{out}", "-n", "100000000000"), "--rows 100000000000: at most"),
    (("synthesize", "{data}", "-o", "{out}", "--seed", "-1"), "--seed -1: must be between"),
    (("evaluate-synthetic", "{data}", "{data}", "--seed", "4294967296"), "--seed 4294967296"),
    (("evaluate-synthetic", "{data}", "{other}"), "other.csv: shares no column with"),
])
def test_cli_bad_numbers_and_tables(cli: Cli, customers_csv: Path, args: tuple[str, ...],
                                    msg: str) -> None:
    other = customers_csv.with_name("other.csv")
    other.write_text("x,y\n1,2\n3,4\n")
    out = customers_csv.with_name("syn.csv")
    code, _, err = cli("privacy", *(a.format(data=customers_csv, out=out, other=other)
                                    for a in args))
    assert code == 2 and msg in err and err.strip().count("\n") == 0, err
    assert not out.exists()


def test_cli_synthesize_parquet_with_missing_values(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "m.parquet"
    pd.DataFrame({"city": ["Oslo", None, "Rome", "Oslo"] * 10,
                  "age": [30.0, 41.0, None, 52.0] * 10}).to_parquet(data, index=False)
    code, _, err = cli("privacy", "synthesize", str(data), "-o", str(tmp_path / "s.csv"),
                       "-n", "20")
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "s.csv")) == 20


def test_evaluate_with_missing_text_values() -> None:
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"city": rng.choice(["Oslo", "Rome", None], 60),
                         "age": rng.normal(40, 5, 60), "y": rng.choice(["a", "b"], 60)})
    scores = evaluate(real, real.sample(frac=1.0, random_state=1), target="y")
    assert scores.exact_copy_rate > 0.5  # a copy, and no crash on the missing cities


def test_evaluation_scores_are_labelled_non_private(ws: Any, customers_csv: Path) -> None:
    """KS, correlations, TRTR and DCR are computed on the real rows without noise."""
    from cpmap.core.ledger import Ledger
    from cpmap.privacy.synth_ops import run_evaluate

    frame = pd.read_csv(customers_csv)[["age", "gender", "default"]]
    real, synth = customers_csv.with_name("r.csv"), customers_csv.with_name("s.csv")
    frame.to_csv(real, index=False)
    frame.sample(frac=1.0, random_state=2).assign(age=lambda f: f["age"] + 1).to_csv(
        synth, index=False)
    _value, entry = run_evaluate(ws, real, synth, None, "default")
    assert entry is not None
    details = Ledger(ws).get(entry).predicate["details"]
    assert {"trtr_accuracy", "dcr_ratio", "correlation_difference", "column_distance"} <= set(
        details["non_private"])
    assert "not DP" in details["highlights"][0]
