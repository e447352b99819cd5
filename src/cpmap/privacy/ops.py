"""The anonymity commands end to end: read, compute, write, register (CP1), record (CP2).

Kept apart from :mod:`cpmap.privacy.anonymity` and :mod:`cpmap.privacy.mondrian`, which are
pure computations on DataFrames that the benchmark and the tests call directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError
from cpmap.privacy import tabular
from cpmap.privacy.anonymity import Assessment, assess, violations
from cpmap.privacy.policy import load_policy, record_cp2
from cpmap.privacy.predicates import AnonymityAssessment
from cpmap.privacy.writers import check_output

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def split_cols(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    return [c.strip() for item in items for c in item.split(",") if c.strip()]


def _subject(ws: Workspace | None, path: Path) -> Any:
    from cpmap.core.evidence import Subject
    from cpmap.provenance.fingerprint import hash_file

    digest, _ = hash_file(path)
    name = path.name
    if ws is not None:
        from cpmap.provenance.datasets import find_by_digest

        found = find_by_digest(ws, digest)
        name = found.ref if found is not None else name
    return Subject(name, digest)


@dataclass(frozen=True)
class AssessReport:
    assessment: Assessment
    problems: tuple[str, ...]
    verdict: str
    entry: int | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.assessment.to_dict(), "problems": list(self.problems),
                "verdict": self.verdict, "entry": self.entry}


def run_assess(ws: Workspace | None, path: Path, quasi: list[str], sensitive: str | None,
               k: int | None = None, l_: int | None = None, t: float | None = None,
               extra: dict[str, Any] | None = None) -> AssessReport:
    """Assess ``path`` against the policy (or the given k/l/t) and record the evidence."""
    from cpmap.core.evidence import Verdict
    from cpmap.core.findings import Finding, Location, Severity

    policy = load_policy(ws)
    frame = tabular.load(path)
    tabular.columns_of(frame, quasi + ([sensitive] if sensitive else []), "--quasi/--sensitive",
                       path)
    want_k = k or policy.k
    want_l = l_ if l_ is not None else (policy.l if sensitive else None)
    want_t = t if t is not None else (policy.t if sensitive else None)
    a = assess(frame, quasi, sensitive, want_k)
    plots = []
    if ws is not None:
        import numpy as np

        from cpmap.privacy.anonymity import class_ids
        from cpmap.privacy.plots import class_sizes

        sizes = np.bincount(class_ids(frame, quasi))
        plots.append(class_sizes(ws, sizes, want_k, f"{path.name}: classes on "
                                 f"{', '.join(quasi)}"))
    problems = tuple(violations(a, want_k, want_l, want_t, policy.max_unique))
    verdict = "fail" if problems else "pass"
    entry = None
    if ws is not None:
        findings = [Finding("CP2-ANONYMITY", Severity.HIGH, p, Location(str(path)),
                            "cpmap privacy anonymize --quasi ... --k K", (
                                Atlas.T0024, OwaspML.ML03)) for p in problems]
        entry = record_cp2(
            ws, AnonymityAssessment, [_subject(ws, path)], Verdict(verdict),
            metrics={key: v for key, v in a.to_dict().items() if not isinstance(v, list)}
            | {"required_k": want_k} | dict(extra or {}),
            findings=findings,
            details={"quasi": quasi, "sensitive": sensitive, "plots": plots, "highlights": [
                f"{path.name}: k={a.k}, uniqueness {a.uniqueness:.1%}, prosecutor risk max "
                f"{a.prosecutor_max:.2f}" + (f", l={a.l_distinct}, t={a.t:.3f}"
                                             if a.t is not None else "")
                + (f"; Mondrian information loss (NCP) {extra['information_loss_ncp']:.3f}"
                   if extra and "information_loss_ncp" in extra else "")]}).index
    return AssessReport(a, problems, verdict, entry)


@dataclass(frozen=True)
class AnonymizeReport:
    output: Path
    info: dict[str, Any]
    check: AssessReport
    output_ref: str

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "output_dataset": self.output_ref,
                **self.info, "assessment": self.check.to_dict()}


def run_anonymize(ws: Workspace, path: Path, out: Path, quasi: list[str], k: int,
                  l_: int | None, t: float | None, sensitive: str | None,
                  suppress: float = 0.0, name: str | None = None) -> AnonymizeReport:
    """Mondrian-anonymize ``path`` into ``out``, register it (CP1), assess and record it."""
    from cpmap.privacy.mondrian import anonymize, hierarchies_from
    from cpmap.privacy.redact import input_dataset
    from cpmap.provenance.lineage import transform

    if tabular.table_format(out) is None:
        raise InputError(f"{out}: output must end in .csv, .tsv, .parquet or .jsonl")
    check_output(out, path)
    frame = tabular.load(path)
    tabular.columns_of(frame, quasi + ([sensitive] if sensitive else []), "--quasi/--sensitive",
                       path)
    hier = hierarchies_from(ws.setting("privacy", "hierarchies", {}))
    result = anonymize(frame, quasi, k, l_=l_, t=t, sensitive=sensitive, hierarchies=hier,
                       suppress=suppress)
    source = input_dataset(ws, path, None)
    params = {"quasi": quasi, "k": k, "l": l_, "t": t, "sensitive": sensitive,
              "suppress": suppress}
    with transform("anonymize", inputs=[source], ws=ws, params=params) as tr:
        tabular.write(result.frame, out)
        dv = tr.output(out, name=name or f"{source.name}-anonymized")
    info = result.to_dict() | {"k": k, "l": l_, "t": t, "quasi": quasi,
                               "information_loss_ncp": round(result.ncp, 6)}
    check = run_assess(ws, out, quasi, sensitive, k, l_, t, extra={
        "information_loss_ncp": info["information_loss_ncp"], "suppressed": result.suppressed,
        "partitions": result.partitions})
    return AnonymizeReport(out, info, check, dv.ref)
