"""The CP2 stage: every privacy step records evidence; without OpenDP it skips DP cleanly."""

from __future__ import annotations

import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.lifecycle import Context


@pytest.mark.slow
def test_demo_stage_records_cp2_evidence(ws: Workspace) -> None:
    pytest.importorskip("opendp")
    from cpmap.lifecycle.stages.cp2 import run

    workdir = ws.root / "demo"
    ctx = Context(ws, workdir, lambda _s: None)
    result = run(ctx)
    assert result.ok, result.lines
    kinds = {e.summary()["kind"] for e in Ledger(ws).entries(control="CP2")}
    assert kinds >= {"pii-scan", "pii-redaction", "anonymity-assessment", "privacy-spend",
                     "synthetic-data", "synthetic-evaluation"}
    assert "k=5" in result.lines[2]
    # one population, one budget: the DP mean and the DP fit of the recorded split both spend
    # from customers (the split used to open a second budget of its own)
    from cpmap.privacy import budget

    assert budget.datasets_with_spends(ws) == ["customers"]
    assert budget.status(ws, "customers-train").spent_epsilon == pytest.approx(3.0)
    # CP1 did not run: the stage wrote the customer table itself and hands it on with its own
    made = result.made
    assert made.customers_csv == workdir / "data" / "customers.csv"
    for name in ("redacted", "anonymized", "synthetic"):
        assert getattr(made, f"customers_{name}_csv").is_file()
        assert getattr(made, f"customers_{name}").startswith("customers-")


@pytest.mark.slow
def test_demo_stage_without_opendp(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from cpmap.lifecycle.stages.cp2 import run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "opendp" else real(name, *a))
    result = run(Context(ws, ws.root / "demo", lambda _s: None))
    assert result.ok, result.lines
    assert "skipped" in result.lines[3] and "non-DP synthetic copy" in result.lines[4]
