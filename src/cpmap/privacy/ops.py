"""The anonymity commands end to end: read, compute, write, register (CP1), record (CP2).

Kept apart from :mod:`cpmap.privacy.anonymity` and :mod:`cpmap.privacy.mondrian`, which are
pure computations on DataFrames that the benchmark and the tests call directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError
from cpmap.privacy import tabular
from cpmap.privacy.anonymity import Assessment, assess, violations
from cpmap.privacy.policy import load_policy, record_cp2
from cpmap.privacy.predicates import AnonymityAssessment, PiiDecryption
from cpmap.privacy.writers import check_output

if TYPE_CHECKING:
    from cpmap.core.evidence import Verdict
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
    verdict: Verdict
    entry: int | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.assessment.to_dict(), "problems": list(self.problems),
                "verdict": self.verdict.value, "entry": self.entry}


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
    verdict = Verdict.FAIL if problems else Verdict.PASS
    entry = None
    if ws is not None:
        findings = [Finding("CP2-ANONYMITY", Severity.HIGH, p, Location(str(path)),
                            "cpmap privacy anonymize --quasi ... --k K", (
                                Atlas.T0024, OwaspML.ML03)) for p in problems]
        entry = record_cp2(
            ws, AnonymityAssessment, [_subject(ws, path)], verdict,
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


def run_decrypt(open_ws: Callable[[], Workspace], path: Path, out: Path) -> int:
    """Reverse ``redact --strategy encrypt`` of ``path`` into ``out`` (mode 0600); the count.

    The input and output are checked before the workspace is opened (``open_ws``), so bad
    input names itself first; nothing is written when a token does not decrypt.
    """
    from cpmap.core.evidence import Subject, Verdict
    from cpmap.core.workspace import atomic_write
    from cpmap.privacy.keys import aes_key, decrypt_text
    from cpmap.provenance.fingerprint import hash_file

    if not path.is_file():
        raise InputError(f"{path}: " + ("is a directory, expected a file" if path.is_dir()
                                          else "no such file"))
    check_output(out)
    ws = open_ws()
    try:
        text = path.read_bytes().decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text: {e.reason}") from e
    try:
        plain, n = decrypt_text(aes_key(ws), text)
    except InputError as e:
        raise InputError(f"{path}: {e.message}", hint=e.hint) from e
    atomic_write(out, plain.encode(), mode=0o600)
    # Re-identification is an access to personal data: it leaves a trace in the ledger.
    record_cp2(ws, PiiDecryption, [Subject(path.name, hash_file(path)[0])], Verdict.INFO,
               {"values_decrypted": n}, details={"input": str(path), "output": str(out),
                                                 "highlights": [f"decrypted {n} values of "
                                                                f"{path.name}"]})
    return n

