"""SARIF 2.1.0 for findings, so that code-scanning dashboards show cpmap results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cpmap._version import __version__
from cpmap.core.findings import Finding, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "3.0", Severity.INFO: "0.0"}


def _location(f: Finding) -> dict[str, Any]:
    region: dict[str, Any] = {}
    if f.location.line is not None:
        region["startLine"] = max(1, f.location.line)
        if f.location.column is not None:
            region["startColumn"] = max(1, f.location.column)
    physical: dict[str, Any] = {"artifactLocation": {"uri": f.location.path or "."}}
    if region:
        physical["region"] = region
    loc: dict[str, Any] = {"physicalLocation": physical}
    if f.location.field:
        loc["logicalLocations"] = [{"name": f.location.field}]
    return loc


def _rule(f: Finding) -> dict[str, Any]:
    return {
        "id": f.rule_id,
        "shortDescription": {"text": f.rule_id},
        "help": {"text": f.remediation or f.message},
        "properties": {"tags": list(f.tags), "security-severity": _SCORE[f.severity]},
    }


def to_sarif(findings: Sequence[Finding], tool: str = "cpmap") -> dict[str, Any]:
    """A SARIF log with one run; rules deduplicated by id."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in findings:
        rules.setdefault(f.rule_id, _rule(f))
        results.append({
            "ruleId": f.rule_id,
            "level": _LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [_location(f)],
            "properties": {"severity": f.severity.value, "tags": list(f.tags),
                           **{k: v for k, v in f.properties.items() if _plain(v)}},
        })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": tool, "version": __version__,
                                "informationUri": "https://github.com/cpmap/cpmap",
                                "rules": list(rules.values())}},
            "results": results,
        }],
    }


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None
