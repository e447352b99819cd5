"""Budgets belong to the people at the root of the CP1 lineage, never to a file name."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.privacy import budget
from cpmap.provenance.datasets import register_dataset
from cpmap.provenance.lineage import transform

from .conftest import set_config

Cli = Callable[..., tuple[int, str, str]]
pytest.importorskip("opendp")


@pytest.fixture
def exhausted(ws: Workspace, cli: Cli, customers_csv: Path) -> Workspace:
    """customers registered, its whole budget (epsilon 1) spent by one DP count."""
    ws = set_config(ws, "[privacy]\ndefault_budget = 1.0\n")
    register_dataset(ws, "customers", customers_csv)
    code, _, err = cli("privacy", "dp-query", "customers@1", "--query", "count",
                       "--epsilon", "1")
    assert code == 0, err
    return ws


def _count(cli: Cli, data: Path | str, *extra: str) -> tuple[int, str, str]:
    return cli("privacy", "dp-query", str(data), "--query", "count", "--epsilon", "0.5", *extra)


def test_a_copy_under_another_name_spends_the_same_budget(
        exhausted: Workspace, cli: Cli, customers_csv: Path) -> None:
    copy = customers_csv.with_name("anything.csv")
    shutil.copy(customers_csv, copy)
    code, _, err = _count(cli, copy)
    assert code == 1 and "customers: privacy budget exceeded" in err
    code, _, err = _count(cli, customers_csv, "--dataset", "anything")
    assert code == 2  # the free-form budget name is gone


def test_derived_datasets_share_their_ancestors_budget(
        exhausted: Workspace, cli: Cli, customers_csv: Path) -> None:
    from cpmap.privacy.detect import RegexAnalyzer
    from cpmap.privacy.ops import run_anonymize
    from cpmap.privacy.redact import Plan, redact
    from cpmap.privacy.transform import Strategy

    red = customers_csv.with_name("customers-redacted.csv")
    redact(exhausted, customers_csv, red, Plan(Strategy.hash, direct_only=True), RegexAnalyzer())
    anon = customers_csv.with_name("customers-anon.csv")
    run_anonymize(exhausted, red, anon, ["zip", "age"], 5, None, None, None, suppress=0.05)
    part = customers_csv.with_name("part.csv")
    with transform("split", inputs=[anon], ws=exhausted) as t:
        pd.read_csv(anon).head(100).to_csv(part, index=False)
        t.output(part, name="fresh-looking-name")
    for derived in (red, anon, part, "fresh-looking-name@1"):
        code, _, err = _count(cli, derived)
        assert code == 1 and "customers: privacy budget exceeded" in err, (derived, err)
    assert budget.status(exhausted, "fresh-looking-name").budget.dataset == "customers"
    assert budget.status(exhausted, "customers").releases == 1  # refused: nothing spent
    assert [h["dataset"] for h in budget.history(exhausted)] == ["customers"]


def test_an_unregistered_file_must_be_registered_or_named(ws: Workspace, cli: Cli,
                                                          tmp_path: Path) -> None:
    data = tmp_path / "new people.csv"
    pd.DataFrame({"x": range(50)}).to_csv(data, index=False)
    code, _, err = _count(cli, data)
    assert code == 2 and "not a registered dataset" in err and err.strip().count("\n") == 0
    code, out, err = _count(cli, data, "--new-population", "survey", "-f", "json")
    assert code == 0, err
    entry = Ledger(ws).get(json.loads(out)["entry"]).predicate["details"]
    assert entry["dataset"] == "survey" and entry["new_population"] is True
    # the same bytes again: already registered, charged to the same people without the flag
    code, out, _ = _count(cli, data, "-f", "json")
    assert code == 0 and json.loads(out)["dataset"] == "survey"
    assert json.loads(out)["remaining_epsilon"] == pytest.approx(9.0)


def test_a_file_name_with_a_space_is_charged_under_one_name(
        ws: Workspace, cli: Cli, customers_csv: Path) -> None:
    """redact registers ``my data.csv`` as ``my-data``; dp-query used to charge ``my data``."""
    from cpmap.privacy.detect import RegexAnalyzer
    from cpmap.privacy.redact import Plan, redact
    from cpmap.privacy.transform import Strategy

    spaced = customers_csv.with_name("my data.csv")
    shutil.copy(customers_csv, spaced)
    redact(ws, spaced, spaced.with_name("red.csv"), Plan(Strategy.hash, direct_only=True),
           RegexAnalyzer())
    assert _count(cli, spaced)[0] == 0
    assert _count(cli, spaced.with_name("red.csv"))[0] == 0
    assert budget.datasets_with_spends(ws) == ["my-data"]
    assert budget.status(ws, "my-data").releases == 2


def test_a_join_is_charged_to_every_root(ws: Workspace, tmp_path: Path) -> None:
    from cpmap.privacy import dp

    a, b, joined = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "ab.csv"
    pd.DataFrame({"x": range(10)}).to_csv(a, index=False)
    pd.DataFrame({"y": range(10)}).to_csv(b, index=False)
    register_dataset(ws, "a", a)
    register_dataset(ws, "b", b)
    with transform("join", inputs=[a, b], ws=ws) as t:
        pd.concat([pd.read_csv(a), pd.read_csv(b)], axis=1).to_csv(joined, index=False)
        dv = t.output(joined, name="ab")
    rel = dp.release(ws, pd.read_csv(joined), "ab", dp.parse_query("count"), 2.0, dv.digest)
    assert {budget.status(ws, n).spent_epsilon for n in ("a", "b")} == {2.0}
    assert rel.dataset in {"a", "b"} and budget.population(ws, "ab") == ("a", "b")
