from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.privacy import budget, dp

from .conftest import set_config

Cli = Callable[..., tuple[int, str, str]]
pytest.importorskip("opendp")


@pytest.mark.parametrize(("text", "kind", "col"), [
    ("count", "count", None), ("count(*)", "count", None), (" mean(age) ", "mean", "age"),
    ("sum(loan amount)", "sum", "loan amount"), ("histogram(g)", "histogram", "g")])
def test_parse_query(text: str, kind: str, col: str | None) -> None:
    q = dp.parse_query(text, "0,1", "a,b")
    assert (q.kind, q.column) == (kind, col)


@pytest.mark.parametrize(("text", "bounds", "cats", "msg"), [
    ("median(x)", None, None, "use count"), ("mean(x)", None, None, "--bounds"),
    ("mean(x)", "5,1", None, "LO < HI"), ("histogram(x)", None, None, "--categories")])
def test_parse_query_errors(text: str, bounds: str | None, cats: str | None, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        dp.parse_query(text, bounds, cats)


def test_release_spends_and_stays_in_bounds(ws: Workspace) -> None:
    frame = pd.DataFrame({"age": list(range(20, 80)) * 20, "g": ["F", "M"] * 600})
    rel = dp.release(ws, frame, "people", dp.parse_query("mean(age)", "18,90"), 1.0)
    assert 18 <= rel.value <= 90 and abs(rel.value - 49.5) < 5
    assert budget.remaining(ws, "people") == pytest.approx(9.0)
    hist = dp.release(ws, frame, "people", dp.parse_query("histogram(g)", None, "F,M"), 1.0)
    assert set(hist.value) == {"F", "M", "__other__"}
    assert abs(hist.value["F"] - 600) < 50


def test_budget_refusal_via_cli(ws: Workspace, cli: Cli, tmp_path: Path) -> None:
    set_config(ws, "[privacy]\ndefault_budget = 1.5\n")
    data = ws.root / "t.csv"
    pd.DataFrame({"x": range(100)}).to_csv(data, index=False)
    code, out, _ = cli("privacy", "dp-query", str(data), "--query", "count", "--epsilon", "1",
                       "--new-population", "t", "-f", "json")
    assert code == 0
    assert json.loads(out)["remaining_epsilon"] == pytest.approx(0.5)
    code, _, err = cli("privacy", "dp-query", str(data), "--query", "sum(x)", "--bounds",
                       "0,100", "--epsilon", "1")
    assert code == 1 and "budget exceeded" in err
    code, out, _ = cli("privacy", "budget", "-f", "json")
    assert json.loads(out)[0]["releases"] == 1


@pytest.mark.parametrize(("query", "bounds", "eps", "msg"), [
    ("count", None, 1e-300, "OpenDP cannot calibrate"),
    ("mean(age)", "-1e308,1e308", 1.0, "OpenDP cannot calibrate"),
])
def test_unusable_parameters_are_input_errors_and_spend_nothing(
        ws: Workspace, query: str, bounds: str | None, eps: float, msg: str) -> None:
    frame = pd.DataFrame({"age": [30, 40, 50] * 10, "name": ["Ann", "Bob", "Cy"] * 10})
    with pytest.raises(InputError, match=msg):
        dp.release(ws, frame, "people", dp.parse_query(query, bounds), eps)
    assert budget.remaining(ws, "people") == pytest.approx(10.0)


def test_histogram_counts_missing_values_as_other(ws: Workspace) -> None:
    frame = pd.DataFrame({"g": ["F", None, "M", None] * 50})
    rel = dp.release(ws, frame, "people", dp.parse_query("histogram(g)", None, "F,M"), 5.0)
    assert abs(rel.value["__other__"] - 100) < 20
