"""CP3 evidence for a secret scan: the scanned tree (by digest), counts and masked findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.supplychain.predicates import SecretsFound

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace
    from cpmap.supplychain.secrets import SecretScan

KIND = "secret-scan"


def evidence_for(scan: SecretScan, name: str | None = None) -> Evidence:
    active = scan.active
    verdict = Verdict.FAIL if active else Verdict.PASS
    rules = sorted({f.rule for f in active})
    highlights = [f"{len(active)} secret(s) found in {scan.files_scanned} files"
                  + (f" ({', '.join(rules)})" if rules else "")]
    highlights += [f"{f.path}:{f.line} {f.rule} {f.masked}" for f in active[:5]]
    found = SecretsFound(
        verdict=verdict, findings=tuple(f.to_finding() for f in active),
        highlights=tuple(highlights), files_scanned=scan.files_scanned, secrets=len(active),
        baselined=len(scan.findings) - len(active), bytes_scanned=scan.bytes_scanned,
        files_skipped=sum(scan.files_skipped.values()), rules=tuple(rules))
    return Evidence.of(found, [Subject(name or f"tree:{scan.root}", scan.tree_digest)])


def record_scan(scan: SecretScan, ws: Workspace, name: str | None = None) -> Entry:
    return record(evidence_for(scan, name), ws)
