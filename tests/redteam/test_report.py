"""When a campaign fails the CLI (``--fail-on``): open findings at least that severe."""

from __future__ import annotations

import pytest

from cpmap.core.findings import Finding, Severity
from cpmap.errors import InputError
from cpmap.redteam.report import fails, parse_fail_on


def _f(severity: Severity, status: str = "open") -> Finding:
    return Finding("CP5-X", severity, "m", properties={"id": "F1", "status": status})


@pytest.mark.parametrize(("found", "threshold", "expected"), [
    ([_f(Severity.HIGH)], Severity.HIGH, True),
    ([_f(Severity.CRITICAL)], Severity.HIGH, True),
    ([_f(Severity.MEDIUM)], Severity.HIGH, False),
    ([_f(Severity.MEDIUM)], Severity.MEDIUM, True),
    ([_f(Severity.CRITICAL, "accepted")], Severity.INFO, False),
    ([], Severity.INFO, False),
])
def test_fails_on_open_findings_at_the_threshold(found: list[Finding], threshold: Severity,
                                                 expected: bool) -> None:
    assert fails(found, threshold) is expected


def test_fail_on_names_a_severity() -> None:
    assert parse_fail_on("low") is Severity.LOW
    with pytest.raises(InputError, match="--fail-on 'worst': use one of critical, high, medium"):
        parse_fail_on("worst")
