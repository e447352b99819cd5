"""CP3 evidence for a model-file scan: each file by SHA-256, its verdict and reasons.

Hashing reads the whole file, unlike the scan itself (which skips tensor payloads), so it is
done here, only when evidence is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas, OwaspLLM, OwaspML
from cpmap.supplychain.modelfiles.report import FileReport, ModelVerdict, Unclassified
from cpmap.supplychain.predicates import ModelScan

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

KIND = "model-scan"
TAGS = (Atlas.T0010_003, Atlas.T0011_000, OwaspML.ML06,
        OwaspLLM.LLM03)
_SEVERITY = {ModelVerdict.MALICIOUS: Severity.CRITICAL, ModelVerdict.SUSPICIOUS: Severity.MEDIUM}


def findings_for(reports: list[FileReport]) -> list[Finding]:
    out = []
    for r in reports:
        for reason in r.reasons:
            if reason.verdict is ModelVerdict.SAFE:
                continue
            out.append(Finding(
                rule_id=f"model/{reason.code}", severity=_SEVERITY[reason.verdict],
                message=f"{r.verdict.value}: {reason.message}",
                location=Location(r.path, field=reason.where or None),
                remediation="Do not load this file. Prefer safetensors/ONNX/skops; load pickles "
                            "only from a trusted, digest-pinned source.",
                tags=TAGS, properties={"verdict": r.verdict.value, "format": r.format}))
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_LISTED = 200  # unclassified files named in the evidence (all are counted)


def evidence_for(reports: list[FileReport], unclassified: Sequence[Unclassified] = ()
                 ) -> Evidence:
    """Verdict ``fail`` with a malicious file, ``warn`` with a suspicious one, else ``pass``;
    the files a directory scan could not classify are counted and listed, not judged."""
    counts = {v.value: sum(r.verdict is v for r in reports) for v in ModelVerdict}
    bad = [r for r in reports if r.verdict is not ModelVerdict.SAFE]
    verdict = (Verdict.FAIL if counts["malicious"] else Verdict.WARN if bad else Verdict.PASS)
    highlights = [f"{len(reports)} model file(s): {counts['safe']} safe, "
                  f"{counts['suspicious']} suspicious, {counts['malicious']} malicious"]
    if unclassified:
        highlights.append(f"{len(unclassified)} other file(s) not recognised as model files "
                          "(not scanned)")
    highlights += [f"{Path(r.path).name}: {r.verdict.value} ({r.reasons[0].message})"
                   for r in bad[:5] if r.reasons]
    scan = ModelScan(
        verdict=verdict, findings=tuple(findings_for(reports)), highlights=tuple(highlights),
        files=len(reports), safe=counts["safe"], suspicious=counts["suspicious"],
        malicious=counts["malicious"], unclassified_count=len(unclassified),
        bytes_read=sum(r.bytes_read for r in reports),
        bytes_total=sum(r.size for r in reports),
        scanned=tuple({"path": r.path, "format": r.format, "verdict": r.verdict.value}
                      for r in reports),
        unclassified=tuple(u.to_dict() for u in unclassified[:MAX_LISTED]))
    return Evidence.of(scan, [Subject(r.path, _sha256(r.path)) for r in reports])


def record_scan(reports: list[FileReport], ws: Workspace,
                unclassified: Sequence[Unclassified] = ()) -> Entry:
    return record(evidence_for(reports, unclassified), ws)
