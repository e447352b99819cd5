"""Findings across campaigns: open, remediated on a later version, accepted, reopened."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.findings import Finding
from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace, init
from cpmap.errors import InputError
from cpmap.redteam import assess
from cpmap.redteam.tracking import accept, list_findings, reconcile

V1, V2, V3 = "1" * 64, "2" * 64, "3" * 64


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init(tmp_path / "proj")


def _finding(rule: str, digest: str) -> Finding:
    return assess.make("m", digest, rule, "msg", {"p": 1}, 0, {"x": 1.0})


def _campaign(ws: Workspace, digest: str, rules: list[str],
              sections: tuple[str, ...] = ("membership", "fuzzing")) -> dict[str, str]:
    with ws.store.write() as conn:
        changes = reconcile(conn, "m", digest, sections, [_finding(r, digest) for r in rules],
                            "c")
    return {t.rule_id: f"{t.before}>{t.after}" for t in changes}


def test_lifecycle(ws: Workspace) -> None:
    assert _campaign(ws, V1, ["CP5-MEMBERSHIP", "CP5-FUZZ-CRASH"]) == {
        "CP5-MEMBERSHIP": ">open", "CP5-FUZZ-CRASH": ">open"}
    # same version, not reproduced: stays open (one lucky run is not a fix)
    assert _campaign(ws, V1, ["CP5-FUZZ-CRASH"]) == {}
    # a later version without the attack in the plan: nothing changes
    assert _campaign(ws, V2, ["CP5-FUZZ-CRASH"], ("fuzzing",)) == {}
    # a later version that ran membership and no longer reproduces it: remediated
    assert _campaign(ws, V2, ["CP5-FUZZ-CRASH"]) == {"CP5-MEMBERSHIP": "open>remediated"}
    rows = {r.rule_id: r for r in list_findings(ws)}
    assert rows["CP5-MEMBERSHIP"].remediated_digest == V2
    assert [r.rule_id for r in list_findings(ws, only_open=True)] == ["CP5-FUZZ-CRASH"]
    # it comes back on v3: a regression, reopened
    assert _campaign(ws, V3, ["CP5-MEMBERSHIP", "CP5-FUZZ-CRASH"]) == {
        "CP5-MEMBERSHIP": "remediated>open"}


def test_accept_records_evidence_and_sticks(ws: Workspace) -> None:
    _campaign(ws, V1, ["CP5-FUZZ-CRASH"])
    fid = assess.finding_id("m", "CP5-FUZZ-CRASH")
    with pytest.raises(InputError, match="needs a reason"):
        accept(ws, fid, "  ")
    row = accept(ws, fid, "sandboxed; crash only kills the worker", by="alice")
    assert row.status == "accepted" and row.reason.startswith("sandboxed")
    entry = list(Ledger(ws).entries(control="CP5"))[-1]
    assert entry.predicate["details"]["finding"] == fid
    assert entry.statement["subject"][0]["digest"]["sha256"] == V1
    assert _campaign(ws, V2, ["CP5-FUZZ-CRASH"]) == {}  # reproduced again: still accepted
    assert list_findings(ws)[0].status == "accepted"
    with pytest.raises(InputError, match="not tracked"):
        accept(ws, "RT-0000000000", "why")


def test_finding_ids_are_stable_per_model_and_rule() -> None:
    a = _finding("CP5-EXTRACTION", V1).properties
    b = _finding("CP5-EXTRACTION", V2).properties
    assert a["id"] == b["id"] and a["id"].startswith("RT-")
    assert a["model_digest"] == V1 and a["atlas"] == ["AML.T0024.002"]
    assert a["reproduction"] == {"attack": "extraction", "params": {"p": 1}, "seed": 0}


def test_binary_inversion_is_not_a_finding() -> None:
    import numpy as np

    from cpmap.redteam.inversion import InversionResult
    from cpmap.redteam.plan import Plan

    two = InversionResult(np.zeros((2, 3)), np.zeros((2, 3)), np.array([0.7, 0.7]),
                          np.array([-0.7, -0.7]), np.array([0.9, 0.9]), 10, "nes")
    three = InversionResult(np.zeros((3, 3)), np.zeros((3, 3)), np.array([0.7, 0.7, 0.7]),
                            np.array([0.1, 0.1, 0.1]), np.array([0.9, 0.9, 0.9]), 10, "nes")
    assert assess.inversion("m", V1, two, Plan()) == []
    assert [f.rule_id for f in assess.inversion("m", V1, three, Plan())] == ["CP5-INVERSION"]
