"""One findings schema for every control: scanners, attacks, verifications and the gate.

A finding says what is wrong (``rule_id``, ``message``), how bad (``severity``), where
(``location``), what to do (``remediation``) and which framework entries it maps to (``tags``:
MITRE ATLAS technique ids, OWASP ML Top 10 and OWASP LLM Top 10 by name). Renderers in
:mod:`cpmap.formats` turn lists of findings into tables, JSON, Markdown, SARIF and HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cpmap.core.tags import Tag, parse_tag
from cpmap.errors import InputError


class Verdict(StrEnum):
    """A control's verdict on its subject: what the report colours and the gate may honour."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1,
         Severity.INFO: 0}


class SeverityFloor(StrEnum):
    """A policy threshold: findings at or above it count; ``none`` counts no finding."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NONE = "none"

    def admits(self, severity: Severity) -> bool:
        """Whether a finding of ``severity`` is at or above this floor."""
        return self is not SeverityFloor.NONE and severity.rank >= Severity(self.value).rank


@dataclass(frozen=True)
class Location:
    """Where a finding is: a file (and line/column), a table column, a model, a URL..."""

    path: str = ""
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        if self.field:
            text += f" [{self.field}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("path", self.path), ("line", self.line),
                                  ("column", self.column), ("field", self.field)) if v not in
                (None, "")}


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    message: str
    location: Location = field(default_factory=Location)
    remediation: str = ""
    tags: tuple[Tag, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # producers may pass the enum members or their exact strings; both become the member
        object.__setattr__(self, "tags", tuple(parse_tag(t) for t in self.tags))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
            "location": self.location.to_dict(),
            "remediation": self.remediation,
            "tags": [t.value for t in self.tags],
            "properties": dict(self.properties),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        loc = data.get("location") or {}
        return cls(
            rule_id=str(data["rule_id"]),
            severity=Severity(data.get("severity", "info")),
            message=str(data.get("message", "")),
            location=Location(
                path=str(loc.get("path", "")), line=loc.get("line"), column=loc.get("column"),
                field=loc.get("field"),
            ),
            remediation=str(data.get("remediation", "")),
            tags=tuple(_known_tags(data.get("tags", ()))),
            properties=dict(data.get("properties", {})),
        )


def max_severity(findings: Iterable[Finding]) -> Severity | None:
    """The most severe of ``findings``, or None when there are none."""
    worst: Severity | None = None
    for f in findings:
        if worst is None or f.severity.rank > worst.rank:
            worst = f.severity
    return worst


def _known_tags(values: Iterable[Any]) -> list[Tag]:
    """Tags read back from evidence: those this version knows (a later one may know more)."""
    out = []
    for v in values:
        try:
            out.append(parse_tag(str(v)))
        except InputError:
            continue
    return out
