"""Dependency vulnerability scan (SCA): pinned packages matched against OSV, as CP3 evidence.

:func:`scan` asks an :class:`~cpmap.supplychain.osvdb.AdvisorySource` about every pin, merges
aliased advisories into one vulnerability and suggests the smallest version that fixes them
all. :class:`DepsReport` renders the JSON shape of ``cpmap scan deps`` and the shared findings;
:func:`record` signs it into the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, Verdict, canonical_json, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas, OwaspLLM, OwaspML
from cpmap.supplychain.osv import Vuln, merge, smallest_fix
from cpmap.supplychain.osvdb import AdvisorySource
from cpmap.supplychain.predicates import DependencyScan
from cpmap.supplychain.reqsource import Inputs, Skipped

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

RULE = "CP3-DEP-VULN"
TAGS = (Atlas.T0010, OwaspML.ML06,
        OwaspLLM.LLM03)
UNRATED = Severity.MEDIUM  # a vulnerability without a rating is not assumed harmless


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    vulns: tuple[Vuln, ...]
    fix: str | None
    origin: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version,
                "vulns": [v.to_dict() for v in self.vulns]}


@dataclass(frozen=True)
class DepsReport:
    dependencies: tuple[Dependency, ...]
    skipped: tuple[Skipped, ...]
    database: str

    @property
    def vulnerable(self) -> list[Dependency]:
        return [d for d in self.dependencies if d.vulns]

    @property
    def vuln_count(self) -> int:
        return sum(len(d.vulns) for d in self.dependencies)

    def to_dict(self) -> dict[str, Any]:
        """The ``cpmap scan deps --format json`` document."""
        return {"dependencies": [d.to_dict() for d in self.dependencies],
                "skipped": [s.to_dict() for s in self.skipped]}

    def findings(self) -> list[Finding]:
        return [_finding(d, v) for d in self.dependencies for v in d.vulns]

    def metrics(self) -> dict[str, int]:
        by_severity = {s.value: 0 for s in Severity}
        for f in self.findings():
            by_severity[f.severity.value] += 1
        return {"dependencies": len(self.dependencies), "vulnerable": len(self.vulnerable),
                "vulnerabilities": self.vuln_count, "skipped": len(self.skipped),
                **{k: n for k, n in by_severity.items() if k != "info"}}


def _finding(dep: Dependency, vuln: Vuln) -> Finding:
    path, _, line = dep.origin.rpartition(":")
    location = (Location(path=path, line=int(line), field=dep.name) if line.isdigit()
                else Location(path=dep.origin, field=dep.name))
    also = f" ({', '.join(vuln.aliases)})" if vuln.aliases else ""
    fix = (f"upgrade {dep.name} to {dep.fix}" if dep.fix else
           "no fixed version is known: remove the dependency or mitigate as the advisory says")
    return Finding(
        rule_id=RULE, severity=vuln.severity or UNRATED,
        message=f"{dep.name} {dep.version}: {vuln.id}{also} {vuln.summary}".rstrip(),
        location=location, remediation=fix, tags=TAGS,
        properties={"package": dep.name, "version": dep.version, "vuln_id": vuln.id,
                    "aliases": list(vuln.aliases), "fix_versions": list(vuln.fix_versions),
                    "suggested_fix": dep.fix, "rated": vuln.severity is not None})


def scan(inputs: Inputs, source: AdvisorySource) -> DepsReport:
    """Match every pin of ``inputs`` against ``source``."""
    deps = []
    for pin in sorted(inputs.pins, key=lambda p: (p.name.lower(), p.version)):
        matched = source.advisories(pin.name, pin.version)
        vulns = merge(pin.name, pin.version, matched)
        deps.append(Dependency(pin.name, pin.version, tuple(vulns),
                               smallest_fix(pin.name, pin.version, matched, vulns), pin.origin))
    skipped = tuple(sorted(inputs.skipped, key=lambda s: s.name.lower()))
    return DepsReport(tuple(deps), skipped, source.description)


def subject_for(inputs: Inputs, label: str) -> Subject:
    """The scanned set of packages, named by the digest of its canonical listing."""
    listing = {"pins": sorted([p.name.lower(), p.version] for p in inputs.pins),
               "skipped": sorted([s.name.lower(), s.reason] for s in inputs.skipped)}
    return Subject(label, hashlib.sha256(canonical_json(listing)).hexdigest())


def verdict(report: DepsReport) -> Verdict:
    """fail with a high or critical vulnerability; warn with lesser ones or skipped pins.

    The gate reads a ``fail`` verdict as a failed control, so medium and low findings only warn;
    its own ``fail_severity`` threshold still applies to the findings.
    """
    worst = max((f.severity.rank for f in report.findings()), default=-1)
    if worst >= Severity.HIGH.rank:
        return Verdict.FAIL
    return Verdict.WARN if report.vuln_count or report.skipped else Verdict.PASS


def highlights(report: DepsReport) -> list[str]:
    lines = [f"{len(report.dependencies)} pinned dependencies, {report.vuln_count} "
             f"vulnerabilities in {len(report.vulnerable)}, {len(report.skipped)} skipped"]
    lines += [f"{d.name} {d.version}: {', '.join(v.id for v in d.vulns)}"
              + (f" -> upgrade to {d.fix}" if d.fix else " (no fix known)")
              for d in report.vulnerable]
    return lines


def record_evidence(report: DepsReport, subjects: Sequence[Subject], ws: Workspace) -> Entry:
    scan = DependencyScan.strict(verdict(report), report.metrics(), report.findings(), {
        "database": report.database, "highlights": highlights(report),
        "skipped": [s.to_dict() for s in report.skipped]})
    return record(Evidence.of(scan, subjects), ws)
