"""The gate: missing evidence never passes, thresholds decide, tampering is caught."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from sqlalchemy import update

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.store import ledger_entries
from cpmap.gate.evaluate import evaluate
from cpmap.gate.output import findings, junit
from cpmap.privacy.predicates import AnonymityAssessment, PiiRedaction, PiiScan
from cpmap.provenance.predicates import DatasetAccess
from cpmap.redteam.predicates import RedteamAcceptance

from .conftest import Kit


def _status(result: object) -> dict[str, str]:
    return {c["control"]: c["status"] for c in result.to_dict()["controls"]}  # type: ignore[attr-defined]


def test_no_evidence_fails_with_reason(kit: Kit) -> None:
    mv = kit.model(datasets=())
    result = evaluate(kit.ws, mv)
    assert not result.passed
    st = _status(result)
    assert st["CP1"] == st["CP3"] == st["CP4"] == st["CP5"] == "missing"
    assert st["CP7"] == "not-required"
    assert all(r.startswith("no evidence") for r in result.control("CP4").reasons)


def test_full_evidence_passes_and_json_shape(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv)
    result = evaluate(kit.ws, mv)
    data = result.to_dict()
    assert set(data) == {"model", "version", "digest", "passed", "controls"}
    assert all(set(c) == {"control", "status", "reasons", "evidence"} for c in data["controls"])
    assert data["passed"] is True, data
    assert _status(result)["CP1"] == "pass" and _status(result)["CP4"] == "pass"
    assert [c["control"] for c in data["controls"]] == [f"CP{i}" for i in range(1, 11)]


def test_weak_robustness_fails_cp4_only(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv, robust=0.05)
    result = evaluate(kit.ws, mv)
    assert not result.passed
    assert [c.control for c in result.failing()] == ["CP4"]
    assert "below 0.4" in result.control("CP4").reasons[0]


def test_evaluation_at_smaller_eps_does_not_count(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv, eps=0.05)
    assert _status(evaluate(kit.ws, mv))["CP4"] == "missing"


def test_evidence_about_another_digest_is_ignored(kit: Kit) -> None:
    mv = kit.model()
    other = kit.model("other", b"other weights")
    kit.everything(other)
    st = _status(evaluate(kit.ws, mv))
    assert st["CP4"] == "missing" and st["CP5"] == "missing"


def test_membership_and_open_findings_fail_cp5(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv)
    kit.cp5(mv, tpr=0.3, high=2)
    reasons = evaluate(kit.ws, mv).control("CP5").reasons
    assert any("TPR at 0.1% FPR is 0.3" in r for r in reasons)
    assert any("2 open finding(s)" in r for r in reasons)


def test_unsafe_model_file_and_untrusted_data_fail(kit: Kit) -> None:
    from cpmap.provenance.datasets import register_dataset

    path = kit.tmp / "raw.csv"
    path.write_text("a\n1\n")
    dv = register_dataset(kit.ws, "raw", path, source="http://evil.example/x.csv",
                          allow_untrusted=True)
    mv = kit.model(datasets=(dv.ref,))
    kit.everything(mv)
    kit.cp3(mv, verdict="malicious")
    result = evaluate(kit.ws, mv)
    assert _status(result)["CP3"] == "fail"
    assert any("untrusted source" in r for r in result.control("CP1").reasons)
    assert any("verified signature" in r for r in result.control("CP1").reasons)


def test_tampered_evidence_fails_its_control(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv)
    cp4 = evaluate(kit.ws, mv).control("CP4").evidence[-1]
    with kit.ws.store.write() as conn:
        row = conn.execute(ledger_entries.select().where(ledger_entries.c.idx == cp4.index)).one()
        env = json.loads(row.envelope)
        import base64

        stmt = json.loads(base64.b64decode(env["payload"]))
        stmt["predicate"]["details"]["results"][0]["robust_accuracy"] = 0.99
        env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == cp4.index)
                     .values(envelope=json.dumps(env, sort_keys=True,
                                                 separators=(",", ":")).encode()))
    result = evaluate(kit.ws, mv)
    assert not result.passed
    assert any("tampered evidence" in r for r in result.control("CP4").reasons)


def test_failed_evidence_verdict_counts_for_cp1(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv)
    d = mv.lineage.datasets[0]
    record(Evidence.of(DatasetAccess(verdict=Verdict.FAIL, integrity_ok=False),
                       [Subject(d.name, d.digest)]), kit.ws)
    result = evaluate(kit.ws, mv)
    assert _status(result)["CP1"] == "fail"
    assert any("integrity check failed" in r for r in result.control("CP1").reasons)


def test_not_required_control_still_fails_on_bad_evidence(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv)
    d = mv.lineage.datasets[0]
    record(Evidence.of(AnonymityAssessment(verdict=Verdict.WARN, k=2),
                       [Subject(d.name, d.digest)]), kit.ws)
    result = evaluate(kit.ws, mv)
    assert _status(result)["CP2"] == "fail" and not result.passed


def test_junit_and_sarif(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv, robust=0.1)
    result = evaluate(kit.ws, mv)
    suite = ET.fromstring(junit(result))  # noqa: S314 - our own output
    assert suite.get("tests") == "10" and suite.get("failures") == "1"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["CP4"]
    assert len([c for c in suite.iter("testcase") if c.find("skipped") is not None]) == 5
    fs = findings(result)
    assert [f.rule_id for f in fs] == ["cpmap.gate.CP4"]


def test_cli_exit_codes(kit: Kit, run_cli) -> None:  # type: ignore[no-untyped-def]
    mv = kit.model()
    kit.everything(mv)
    ok = run_cli("gate", mv.ref, "-f", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["passed"] is True
    sarif = run_cli("gate", "clf@latest", "-f", "sarif", "--workspace", str(kit.ws.root))
    assert sarif.returncode == 0 and json.loads(sarif.stdout)["runs"][0]["results"] == []
    kit.cp4(mv, robust=0.0)
    for fmt in ("table", "junit", "sarif"):
        failed = run_cli("gate", mv.ref, "-f", fmt, "-o", f"gate.{fmt}")
        assert failed.returncode == 1 and "CP4 fail" in failed.stderr
    junit_xml = ET.parse(kit.ws.root / "gate.junit").getroot()  # noqa: S314 - our own output
    assert junit_xml.get("failures") == "1"
    results = json.loads((kit.ws.root / "gate.sarif").read_text())["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["cpmap.gate.CP4"]
    missing = run_cli("gate", "nope@1")
    assert missing.returncode == 2 and "nope@1" in missing.stderr


def test_cp2_judges_the_training_data_not_its_redacted_ancestor(kit: Kit) -> None:
    from cpmap.provenance.datasets import register_dataset

    raw_path = kit.tmp / "raw.csv"
    raw_path.write_text("email,y\na@example.com,1\n")
    raw = register_dataset(kit.ws, "raw", raw_path, source="builtin:test")
    clean_path = kit.tmp / "clean.csv"
    clean_path.write_text("email,y\n***,1\n")
    clean = register_dataset(kit.ws, "clean", clean_path, source="builtin:test",
                             parents=[raw.digest], transform="redact")
    record(Evidence.of(PiiScan(verdict=Verdict.FAIL, pii_columns=1, text_hits=0),
                       [Subject("raw.csv", raw.digest)]), kit.ws)
    record(Evidence.of(PiiRedaction(verdict=Verdict.PASS, rescan_direct_identifiers=0),
                       [Subject(clean.ref, clean.digest), Subject(raw.ref, raw.digest)]), kit.ws)
    on_clean = kit.model("a", b"a", datasets=(clean.ref,))
    on_raw = kit.model("b", b"b", datasets=(raw.ref,))
    assert _status(evaluate(kit.ws, on_clean))["CP2"] == "pass"
    result = evaluate(kit.ws, on_raw)
    assert _status(result)["CP2"] == "fail"
    assert any("unredacted PII" in r for r in result.control("CP2").reasons)


def test_cp5_findings_persist_until_remediated_or_accepted(kit: Kit) -> None:
    mv = kit.model()
    kit.everything(mv)
    kit.cp5(mv, high=1)  # RT-0 open
    kit.cp5(mv)  # a narrower campaign that does not report it: still open
    assert any("1 open finding" in r for r in evaluate(kit.ws, mv).control("CP5").reasons)
    record(Evidence.of(RedteamAcceptance(verdict=Verdict.INFO, finding="RT-0",
                                         reason="risk accepted"),
                       [Subject(mv.ref, mv.digest)]), kit.ws)
    assert _status(evaluate(kit.ws, mv))["CP5"] == "pass"


def test_required_for_a_stage_only_counts_for_that_promotion(kit: Kit) -> None:
    from cpmap.gate.policy import from_config

    mv = kit.model()
    kit.everything(mv)
    policy = from_config({"CP2": {"required_for": ["production"]}})
    assert evaluate(kit.ws, mv, policy).passed
    for_production = evaluate(kit.ws, mv, policy, stage="production")
    assert for_production.control("CP2").status == "missing" and not for_production.passed
    assert evaluate(kit.ws, mv, policy, stage="staging").passed


def test_production_needs_a_passing_gateway_check(kit: Kit) -> None:
    mv = kit.model()
    for cp in (kit.cp3, kit.cp4, kit.cp5, kit.cp6):
        cp(mv)
    assert evaluate(kit.ws, mv, stage="staging").passed
    missing = evaluate(kit.ws, mv, stage="production")
    assert missing.control("CP7").status == "missing" and not missing.passed
    kit.cp7(mv, failed=2)
    failed = evaluate(kit.ws, mv, stage="production").control("CP7")
    assert failed.status == "fail" and "2 attack(s) got through" in failed.reasons[0]
    kit.cp7(mv)
    assert evaluate(kit.ws, mv, stage="production").passed
