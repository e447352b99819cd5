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
