"""CP4's gate requirement: the per-example worst case of the full ensemble, and masking
findings that block until accepted with a reason."""

from __future__ import annotations

from typing import Any

from cpmap.core.evidence import Verdict
from cpmap.core.findings import Finding, Severity
from cpmap.gate.kit import Item
from cpmap.robustness.control import CP4Rule
from cpmap.robustness.predicates import (
    ENSEMBLE,
    AttackRow,
    MaskingAcceptance,
    RobustnessEvaluation,
)
from cpmap.robustness.requirement import requirement

RULE = CP4Rule()


def _item(index: int, pred: Any) -> Item:
    return Item(index, "CP4", pred.kind, "2026-01-01T00:00:00Z", {"d" * 64: "m@1"}, pred)


def _ev(pgd: float, worst: float, attacks: tuple[str, ...] = ("pgd", *ENSEMBLE),
        findings: tuple[Finding, ...] = ()) -> RobustnessEvaluation:
    return RobustnessEvaluation(
        verdict=Verdict.INFO, clean_accuracy=0.95, findings=findings,
        results=tuple(AttackRow(a, 0.15, pgd if a == "pgd" else worst + 0.05)
                      for a in attacks), worst_case={"0.15": worst})


def test_the_worst_case_of_the_ensemble_is_gated_not_pgd_alone() -> None:
    reasons = requirement([_item(1, _ev(pgd=0.6, worst=0.3))], None, RULE)  # type: ignore[arg-type]
    assert len(reasons) == 1 and not reasons[0].missing
    assert "per-example worst case over apgd, apgd-t, fab-t, pgd, square" in reasons[0].text
    assert "0.3" in reasons[0].text
    assert not requirement([_item(1, _ev(pgd=0.6, worst=0.5))], None, RULE)  # type: ignore[arg-type]


def test_an_evaluation_without_the_full_ensemble_is_not_evidence() -> None:
    partial = _ev(pgd=0.9, worst=0.9, attacks=("pgd", "apgd"))
    reasons = requirement([_item(1, partial)], None, RULE)  # type: ignore[arg-type]
    assert len(reasons) == 1 and reasons[0].missing
    assert "full ensemble (apgd, apgd-t, fab-t, square)" in reasons[0].text


def test_a_masking_finding_fails_until_accepted_with_a_reason() -> None:
    mask = Finding("CP4-MASK-BLACKBOX", Severity.HIGH, "white-box attack weaker than black-box",
                   properties={"eps": 0.15})
    ev = _item(3, _ev(pgd=0.6, worst=0.5, findings=(mask,)))
    reasons = requirement([ev], None, RULE)  # type: ignore[arg-type]
    assert [r.text.split(":")[0] for r in reasons] == ["gradient masking"]
    other_eps = MaskingAcceptance(verdict=Verdict.INFO, rule_id="CP4-MASK-BLACKBOX", eps=0.3,
                                  reason="reviewed")
    assert requirement([ev, _item(4, other_eps)], None, RULE)  # type: ignore[arg-type]
    ok = MaskingAcceptance(verdict=Verdict.INFO, rule_id="CP4-MASK-BLACKBOX", eps=0.15,
                           evaluation=3, reason="Square found rows APGD-T missed; reviewed")
    assert not requirement([ev, _item(4, ok)], None, RULE)  # type: ignore[arg-type]


def test_a_single_attack_policy_still_reads_that_attack() -> None:
    rule = CP4Rule(attack="pgd")
    assert not requirement([_item(1, _ev(pgd=0.6, worst=0.3))], None, rule)  # type: ignore[arg-type]


def test_accept_masking_records_signed_evidence_through_the_cli(ws: Any, capsys: Any) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.models import ArchSpec, TorchModel, build
    from cpmap.models.store import save_model

    spec = ArchSpec("mlp", 4, 2, (3,))
    mv = save_model(ws, "m", TorchModel(build(spec), spec), {"seed": 0})
    w = ("-w", str(ws.root))
    base = ("robustness", "accept-masking", "--model", "m")
    assert _cli(capsys, *base, "--rule", "CP4-MASK-STEPS", "--reason", " ", *w)[0] == 2
    assert _cli(capsys, *base, "--rule", "CP4-LOW", "--reason", "x", *w)[0] == 2
    code, err = _cli(capsys, *base, "--rule", "CP4-MASK-STEPS", "--reason", "reviewed by hand",
                     "--eps", "0.1", *w)
    assert code == 0, err
    entry = Ledger(ws).entries(kind="robustness-masking-acceptance")[-1]
    assert entry.predicate["details"]["reason"] == "reviewed by hand"
    assert entry.predicate["details"]["eps"] == 0.1
    assert {s["sha256"] for s in entry.summary()["subjects"]} == {mv.digest}


def _cli(capsys: Any, *args: str) -> tuple[int, str]:
    from cpmap.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err
