"""A run retrains the production recipe, re-gates it, and a canary promotes or rolls back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.retrain.conftest import write_batch
from tests.retrain.kit import CAMPAIGN, GATE_ENV, production_project

from cpmap.core.ledger import Ledger
from cpmap.retrain.intake import Batch
from cpmap.retrain.triggers import manual


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One production workspace per module (training and attacking it is the slow part)."""
    return production_project(tmp_path_factory.mktemp("prod"))


@pytest.fixture
def prod_ws(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import shutil

    from cpmap.core.workspace import open_workspace
    from cpmap.registry.versions import get

    for k, v in GATE_ENV.items():
        monkeypatch.setenv(k, v)
    shutil.copytree(base, tmp_path / "proj")
    ws = open_workspace(tmp_path / "proj")
    ws.config.setdefault("retraining", {})["campaign"] = CAMPAIGN
    yield ws, get(ws, "digits@production")
    ws.close()


def _batches(tmp_path: Path) -> tuple[Batch, Batch]:
    from cpmap.builtin import digits

    x, y = digits()
    good = write_batch(tmp_path / "new.csv", x[-60:], y[-60:])
    bad = write_batch(tmp_path / "flip.csv", x[-60:], (y[-60:] + 3) % 10)
    return Batch(good, good.as_uri()), Batch(bad, bad.as_uri())


def _traffic(ws: Any, name: str, clients: int = 60) -> Any:
    from cpmap.builtin import digits
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load
    from cpmap.gateway.keys import create
    from cpmap.retrain.rollout import attach

    # the keys exist before the gateway loads them, so the first requests need no refresh
    keys = [create(ws, f"client-{i}", [f"infer:{name}"], "1000/minute")[0]
            for i in range(clients)]
    gw = build(ws, name, load(ws, env={}, key_refresh_s=0.2))
    canary = attach(gw, ws)
    assert canary is not None
    running = run_in_thread(gw)
    x, _ = digits()
    try:
        for i, key in enumerate(keys):
            body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 64],
                                "data": x[2 * i: 2 * i + 2].ravel().tolist()}]}
            r = httpx.post(f"{running.url}/v2/models/{name}/infer", json=body,
                           headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
    finally:
        running.stop()
    return canary


def test_run_gates_the_candidate_and_the_canary_promotes(prod_ws: Any, tmp_path: Path) -> None:
    from cpmap.registry.versions import get
    from cpmap.retrain import rollout
    from cpmap.retrain.pipeline import run

    ws, mv = prod_ws
    good, bad = _batches(tmp_path)
    result = run(ws, "digits", manual("digits", "test"), [good, bad])
    assert result.status == "gated", result.gate_reasons
    assert [i.accepted for i in result.intakes] == [True, False]
    cand = result.candidate
    assert cand is not None and cand.version == 2
    assert cand.lineage.training is not None
    assert cand.lineage.training["retraining"]["trigger_key"] == result.trigger.key
    assert result.recipe["hidden"] == [32] and result.recipe["from"] == mv.ref
    from cpmap.provenance.datasets import parents_of

    merged = cand.lineage.datasets[0].digest
    assert {d for d, _ in parents_of(ws, merged)} == {
        mv.lineage.datasets[0].digest, result.intakes[0].dataset.digest}
    assert get(ws, "digits@production").version == 1  # the run never touches production
    rollout.start(ws, cand.ref, share=0.5)
    canary = _traffic(ws, "digits")
    arms = canary.snapshot()
    assert arms["candidate"]["requests"] > 10 and arms["production"]["requests"] > 10
    decision = rollout.decide(ws, "digits", canary)
    assert decision.action == "promote", decision.regressions
    assert get(ws, "digits@production").version == 2
    actions = [e.predicate["details"]["action"]
               for e in Ledger(ws).entries(control="CP10", kind="retrain-rollout")]
    assert actions == ["start", "promote"]
    runs = Ledger(ws).entries(control="CP10", kind="retrain-run")
    assert runs[-1].predicate["metrics"]["batches_refused"] == 1


def test_a_regressing_canary_rolls_back(prod_ws: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.registry.versions import get
    from cpmap.retrain import rollout
    from cpmap.retrain.pipeline import run

    ws, _ = prod_ws
    good, _ = _batches(tmp_path)
    result = run(ws, "digits", manual("digits"), [good])
    assert result.candidate is not None
    rollout.start(ws, result.candidate.ref, share=0.5)
    canary = _traffic(ws, "digits")
    # any accuracy change counts as a regression: the golden-set check must roll it back
    ws.config.setdefault("retraining", {})["max_accuracy_drop"] = -1.0
    decision = rollout.decide(ws, "digits", canary)
    assert decision.action == "rollback" and decision.alert
    assert "golden-set accuracy" in decision.regressions[0]
    assert get(ws, "digits@production").version == 1
    assert rollout.status(ws, "digits")["status"] == "rolled-back"


def test_a_candidate_failing_the_gate_stops(prod_ws: Any, tmp_path: Path) -> None:
    from cpmap.registry.versions import get
    from cpmap.retrain.pipeline import run

    ws, _ = prod_ws
    ws.config["gate"]["CP4"]["min_clean_accuracy"] = 0.999
    result = run(ws, "digits", manual("digits"), [])
    assert result.status == "gate-failed"
    assert any(r.startswith("CP4") for r in result.gate_reasons)
    assert get(ws, "digits@production").version == 1
    again = run(ws, "digits", result.trigger, [])  # the same trigger: no second run
    assert again.status == "duplicate"
    runs = Ledger(ws).entries(control="CP10", kind="retrain-run")
    assert [r.predicate["details"]["status"] for r in runs] == ["gate-failed"]
    assert runs[0].predicate["verdict"] == "fail"
    from cpmap.controls import read_predicate
    from cpmap.retrain.predicates import RetrainRun

    typed = read_predicate("retrain-run", runs[0].predicate)
    assert isinstance(typed, RetrainRun) and typed.status == "gate-failed"
    assert typed.highlights[0].startswith(f"run {result.run_id}: trigger manual")
    assert any(h.startswith("gate: gate-failed") for h in typed.highlights)
    second = run(ws, "digits", manual("digits"), [])  # the history now holds the first run
    typed = read_predicate("retrain-run", Ledger(ws).get(second.entry).predicate)
    assert isinstance(typed, RetrainRun)
    assert [h["run_id"] for h in typed.history][0] == result.run_id
    assert typed.history_lines()[0].startswith(f"run {result.run_id} (manual): gate-failed")


def test_rollout_cli_status_promote_abort(prod_ws: Any, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    """``cpmap rollout status|start|promote|abort`` through ``main(argv)``: exit codes, JSON,
    and a ledger entry for every step."""
    import json

    from tests.retrain.conftest import run_cli

    from cpmap.registry.versions import get
    from cpmap.retrain.pipeline import run

    ws, _ = prod_ws
    result = run(ws, "digits", manual("digits", "cli"), [])
    assert result.status == "gated" and result.candidate is not None, result.gate_reasons
    cand, w = result.candidate.ref, ("-w", str(ws.root), "-f", "json")

    code, _, err = run_cli(capsys, "rollout", "status", "digits", *w)
    assert code == 2 and "digits: no rollout" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "rollout", "start", cand, "--share", "0.5", *w)
    assert code == 0
    assert {k: json.loads(out)[k] for k in ("candidate", "production", "share", "status")} \
        == {"candidate": cand, "production": "digits@1", "share": 0.5, "status": "canary"}
    code, out, _ = run_cli(capsys, "rollout", "status", "digits", *w)
    assert code == 0 and json.loads(out)["status"] == "canary"

    code, out, _ = run_cli(capsys, "rollout", "promote", "digits", *w)  # no traffic yet
    wait = json.loads(out)
    assert code == 1 and wait["action"] == "wait"
    assert wait["comparison"]["estimable"] is False
    assert get(ws, "digits@production").version == 1

    code, out, _ = run_cli(capsys, "rollout", "abort", "digits", *w)
    assert code == 0 and json.loads(out)["action"] == "abort"
    assert "digits@1 stays in production" in json.loads(out)["alert"]
    code, out, _ = run_cli(capsys, "rollout", "status", "digits", *w)
    assert json.loads(out)["status"] == "aborted"
    code, _, err = run_cli(capsys, "rollout", "abort", "digits", *w)
    assert code == 2 and "no canary rollout in progress" in err

    code, out, _ = run_cli(capsys, "rollout", "start", cand, "--share", "0.3", *w)
    assert code == 0
    code, out, _ = run_cli(capsys, "rollout", "promote", "digits", "--force", *w)
    assert code == 0 and json.loads(out)["action"] == "promote"
    assert get(ws, "digits@production").version == 2
    code, out, _ = run_cli(capsys, "rollout", "status", "digits", *w)
    assert json.loads(out)["status"] == "promoted"

    steps = [(e.predicate["details"]["action"], e.predicate["verdict"])
             for e in Ledger(ws).entries(control="CP10", kind="retrain-rollout")]
    assert steps == [("start", "pass"), ("abort", "fail"), ("start", "pass"),
                     ("promote", "pass")]


def test_cp9_evidence_about_production_does_not_gate_the_candidate(prod_ws: Any) -> None:
    """Drift and a failed golden run are about production (what the alert says); the
    candidate's gate reads only evidence about its own digest."""
    from cpmap.core.evidence import Evidence, Subject, Verdict, record
    from cpmap.core.findings import Finding, Location, Severity
    from cpmap.drift.predicates import GoldenRun
    from cpmap.gate.evaluate import gate
    from cpmap.retrain.pipeline import run

    ws, mv = prod_ws
    about = [Subject(f"model:{mv.ref}", mv.digest)]
    record(Evidence("CP9", "drift", about, Verdict.FAIL, findings=[Finding(
        "CP9-DRIFT", Severity.HIGH, "input drift", Location(mv.ref), "retrain")]), ws)
    record(Evidence.of(GoldenRun(verdict=Verdict.FAIL, rows=100, accuracy=0.5,
                                 accuracy_lower=0.4, macro_f1=0.5, golden="digits-golden@1"),
                       about), ws)
    assert gate(ws, mv.ref).control("CP9").status == "fail"  # production's own evidence
    result = run(ws, "digits", manual("digits", "drift"), [])
    assert result.status == "gated", result.gate_reasons
    assert result.candidate is not None
    cp9 = gate(ws, result.candidate.ref).control("CP9")
    assert cp9.status == "pass", cp9.reasons  # its own golden run, none of production's
    assert cp9.evidence and all(mv.digest not in e.subjects for e in cp9.evidence)
    assert all(result.candidate.digest in e.subjects for e in cp9.evidence)
