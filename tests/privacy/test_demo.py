from __future__ import annotations

import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.lifecycle import DemoContext


@pytest.mark.slow
def test_demo_stage_records_cp2_evidence(ws: Workspace) -> None:
    pytest.importorskip("opendp")
    from cpmap.privacy.demo import run

    workdir = ws.root / "demo"
    ctx = DemoContext(ws, workdir, lambda _s: None)
    result = run(ctx)
    assert result.ok, result.lines
    kinds = {e.summary()["kind"] for e in Ledger(ws).entries(control="CP2")}
    assert kinds >= {"pii-scan", "pii-redaction", "anonymity-assessment", "privacy-spend",
                     "synthetic-data", "synthetic-evaluation"}
    assert "k=5" in result.lines[2]


def test_without_opendp_dp_refuses_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import pandas as pd

    from cpmap.errors import InputError
    from cpmap.privacy import dp

    monkeypatch.setitem(sys.modules, "opendp.mod", None)
    with pytest.raises(InputError, match="needs OpenDP"):
        dp.evaluate(pd.DataFrame({"x": [1, 2]}), dp.parse_query("count"), 1.0)


@pytest.mark.slow
def test_demo_stage_without_opendp(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from cpmap.privacy.demo import run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "opendp" else real(name, *a))
    result = run(DemoContext(ws, ws.root / "demo", lambda _s: None))
    assert result.ok, result.lines
    assert "skipped" in result.lines[3] and "non-DP synthetic copy" in result.lines[4]
