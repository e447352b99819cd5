"""The CP5 stage says plainly whether the remediation measurably worked (intervals apart)."""

from __future__ import annotations

from typing import Any

from cpmap.lifecycle.stages.cp5 import verdict_lines


def _m(auc: tuple[float, float], tpr: tuple[float, float] | None) -> dict[str, Any]:
    rates = [{"fpr": 0.001, "value": None, "note": "not estimable"},
             {"fpr": 0.01, "value": None} if tpr is None else
             {"fpr": 0.01, "value": sum(tpr) / 2, "count": [5, 179], "ci95": list(tpr)}]
    return {"auc_ci95": list(auc), "rates": rates, "members": 179}


def test_overlapping_intervals_are_reported_as_not_measurably_better() -> None:
    lines, ok = verdict_lines(_m((0.61, 0.69), (0.031, 0.107)), _m((0.54, 0.63), (0.016, 0.079)))
    assert not ok
    assert "AUC NOT measurably lower (95% intervals overlap)" in lines[0]
    assert "179 members are too few" in lines[1]


def test_intervals_apart_are_reported_as_measurably_better() -> None:
    lines, ok = verdict_lines(_m((0.70, 0.80), (0.20, 0.30)), _m((0.48, 0.55), (0.0, 0.03)))
    assert ok and "measurably lower (95% intervals do not overlap)" in lines[0]
    assert lines[1].endswith("measurably lower (intervals do not overlap)")
    _, ok = verdict_lines(_m((0.70, 0.80), None), _m((0.48, 0.55), None))
    assert ok


def test_the_demo_tests_membership_at_1pct_fpr_and_says_why(ws: Any) -> None:
    from cpmap.gate.policy import load
    from cpmap.lifecycle.stages.cp6_evidence import demo_membership_fpr

    assert load(ws).rule("CP5").membership_fpr == 0.001  # type: ignore[attr-defined]
    line = demo_membership_fpr(ws)
    assert line is not None and "0.1% FPR needs at least 1000 non-members" in line
    assert load(ws).rule("CP5").membership_fpr == 0.01  # type: ignore[attr-defined]
    assert demo_membership_fpr(ws) is None


def test_each_remediation_is_named_and_a_higher_auc_is_never_a_fix() -> None:
    from cpmap.lifecycle.stages.cp5 import DP_REMEDIATION

    lines, ok = verdict_lines(_m((0.61, 0.69), (0.031, 0.107)), _m((0.46, 0.55), (0.0, 0.03)),
                              DP_REMEDIATION)
    assert ok and lines[0].startswith(f"remediation ({DP_REMEDIATION}): AUC measurably lower")
    m_hi = {**_m((0.75, 0.80), None), "auc": 0.78}
    lines, ok = verdict_lines({**_m((0.61, 0.69), None), "auc": 0.65}, m_hi)
    assert not ok and "NOT measurably lower" in lines[0]
