"""New data for retraining, put through the same checks as the original data.

Each batch (a CSV with a label column, or an ``.npz`` with ``x`` and ``y``) goes, in order,
through: CP1 registration (the source must be trusted; a supplier's attestation, when given,
must be signed by a trusted key and match the bytes: a tampered batch fails here), the CP2 PII
scan (direct identifiers refuse the batch, or with ``[retraining] pii = "redact"`` their
metadata columns are dropped and the redacted copy registered with lineage to the raw one; PII
in a feature or the label always refuses), the CP2 k-anonymity check when ``[retraining]
quasi`` names quasi-identifier columns, a schema check against the anchor, and the poisoning
comparison with the training anchor (:mod:`cpmap.retrain.anchor`: CP9's label-disagreement
and cumulative CUSUM tests, the batch the last of the rounds since the anchor). Every batch,
accepted or refused, gets a signed ``retrain-intake`` entry with the reason; a refused batch never
reaches training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import Error, InputError
from cpmap.retrain.anchor import compare, intake_policy
from cpmap.retrain.predicates import IntakeCheck

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.drift.poisoning import Round
    from cpmap.models.datasets import Dataset
    from cpmap.provenance.datasets import DatasetVersion


@dataclass(frozen=True)
class Batch:
    """A batch of labelled rows and where it came from."""

    path: Path
    source: str
    supplier: str | None = None
    attestation: Path | None = None


@dataclass(frozen=True)
class Intake:
    batch: Batch
    accepted: bool
    reason: str
    refused_by: str | None = None
    dataset: DatasetVersion | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None  # class indices in the anchor's classes
    checks: tuple[dict[str, Any], ...] = field(default=())
    entry: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch.path.name, "source": self.batch.source,
                "accepted": self.accepted, "refused_by": self.refused_by,
                "reason": self.reason, "dataset": self.dataset.ref if self.dataset else None,
                "rows": 0 if self.x is None else len(self.x), "entry": self.entry}


class Refused(Exception):
    """A check refused the batch (internal: becomes an :class:`Intake`)."""

    def __init__(self, by: str, reason: str) -> None:
        super().__init__(reason)
        self.by, self.reason = by, reason


def _register(ws: Workspace, name: str, b: Batch) -> DatasetVersion:
    from cpmap.provenance.datasets import register_dataset

    try:
        return register_dataset(ws, name, b.path, source=b.source, supplier=b.supplier,
                                attestation=b.attestation)
    except Error as e:
        by = "CP1-attestation" if b.attestation is not None and "source" not in e.message \
            else "CP1-source"
        raise Refused(by, e.message) from e


def _pii(ws: Workspace, name: str, path: Path, dv: DatasetVersion, features: set[str],
         label: str) -> tuple[DatasetVersion, dict[str, Any]]:
    """Scan; refuse, or drop PII metadata columns and register the redacted copy."""
    from cpmap.privacy.policy import load_policy
    from cpmap.privacy.scan import make_analyzer, record_scan, scan_path, verdict_of

    pol = load_policy(ws)
    result = scan_path(path, make_analyzer("cpmap", phone_regions=pol.phone_regions))
    record_scan(ws, [result], "cpmap", pol.fail_on)
    check = {"check": "pii", "entities": result.entities, "verdict": verdict_of([result])}
    if not result.pii or verdict_of([result], pol.fail_on) == "pass":
        return dv, check
    cols = sorted({c.column for c in result.columns if c.pii})
    mode = str(ws.setting("retraining", "pii", "refuse"))
    if mode != "redact" or not cols or set(cols) & (features | {label}):
        raise Refused("CP2-pii", f"PII found ({', '.join(sorted(result.entities))}"
                      + (f" in column(s) {', '.join(cols)}" if cols else "") + ")")
    import pandas as pd

    from cpmap.provenance.datasets import register_dataset

    out = path.with_name(f"{path.stem}.redacted.csv")
    pd.read_csv(path).drop(columns=cols).to_csv(out, index=False)
    red = register_dataset(ws, name, out, parents=[dv.digest], transform="redact")
    return red, {**check, "redacted_columns": cols, "dataset": red.ref}


def _anonymity(ws: Workspace, path: Path) -> dict[str, Any] | None:
    quasi = ws.setting("retraining", "quasi", []) or []
    if not quasi or path.suffix.lower() != ".csv":
        return None
    from cpmap.privacy.ops import run_assess

    rep = run_assess(ws, path, [str(q) for q in quasi], None)
    if rep.problems:
        raise Refused("CP2-k-anonymity", "; ".join(rep.problems))
    return {"check": "k-anonymity", "k": rep.assessment.k}


def read_rows(path: Path, anchor: Dataset, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The batch as the anchor's features and class indices (refused when they do not fit)."""
    if path.suffix.lower() == ".npz":
        from cpmap.models.tabular import read_npz

        x, yi, classes = read_npz(path, None)
        y_names = np.array([classes[i] for i in yi])
    else:
        import pandas as pd

        frame = pd.read_csv(path)
        if label not in frame.columns:
            raise Refused("schema", f"no label column {label!r}")
        numeric = frame.drop(columns=[label]).select_dtypes("number")
        x, y_names = numeric.to_numpy(np.float32), frame[label].astype(str).to_numpy()
    if x.ndim != 2 or x.shape[1] != anchor.input_dim:
        raise Refused("schema", f"{x.shape[-1] if x.ndim else 0} features; the anchor has "
                      f"{anchor.input_dim}")
    index = {c: i for i, c in enumerate(anchor.classes)}
    unknown = sorted(set(y_names.tolist()) - set(index))
    if unknown:
        raise Refused("schema", f"labels not in the model's classes: {', '.join(unknown[:5])}")
    return x, np.array([index[c] for c in y_names], dtype=np.int64)


def check_batch(ws: Workspace, model: str, b: Batch, anchor: Dataset,
                earlier: Sequence[Round] = ()) -> Intake:
    """Every check on one batch, recorded; see the module doc. ``earlier``: the rounds
    accepted since the anchor, oldest first (the poisoning check accumulates over them)."""
    if not b.path.is_file():
        raise InputError(f"{b.path}: no such batch file")
    label = str(ws.setting("retraining", "label", "label"))
    checks: list[dict[str, Any]] = []
    dv = None
    try:
        dv = _register(ws, f"{model}-intake", b)
        checks.append({"check": "provenance", "dataset": dv.ref, "source": b.source,
                       "supplier": b.supplier})
        if b.path.suffix.lower() == ".csv":
            features = set(anchor.feature_names) if anchor.feature_names else set()
            dv, pii = _pii(ws, f"{model}-intake", b.path, dv, features, label)
            checks.append(pii)
            if (anon := _anonymity(ws, Path(ws.absolute(dv.path)))) is not None:
                checks.append(anon)
        x, y = read_rows(Path(ws.absolute(dv.path)), anchor, label)
        judge = bool(ws.setting("retraining", "poisoning_features", False))
        cmp = compare(anchor.x, anchor.y, x, y, anchor.classes, earlier=earlier,
                      name=b.path.name, policy=intake_policy(judge))
        checks.append(cmp.to_dict())
        if cmp.poisoned:
            raise Refused("CP9-poisoning", cmp.reason())
    except Refused as r:
        return _record(ws, Intake(b, False, r.reason, r.by, dv, checks=tuple(checks)))
    return _record(ws, Intake(b, True, f"{len(x)} rows accepted; {cmp.reason()}", None, dv,
                              x, y, tuple(checks)))


def _record(ws: Workspace, it: Intake) -> Intake:
    from dataclasses import replace

    digest = it.dataset.digest if it.dataset is not None else hashlib.sha256(
        it.batch.path.read_bytes()).hexdigest()
    findings = () if it.accepted else (Finding(
        f"CP10-INTAKE-{(it.refused_by or 'refused').upper()}", Severity.HIGH,
        f"batch {it.batch.path.name} refused: {it.reason}", Location(str(it.batch.path)),
        "Fix the batch at its source and submit it again; it never reaches training.",
        (Atlas.T0020, OwaspML.ML02)),)
    pred = IntakeCheck(verdict=Verdict.PASS if it.accepted else Verdict.FAIL,
                       findings=findings, rows=0 if it.x is None else len(it.x),
                       accepted=it.accepted, batch=it.batch.path.name, source=it.batch.source,
                       dataset=it.dataset.ref if it.dataset else None,
                       refused_by=it.refused_by, reason=it.reason, checks=it.checks,
                       highlights=(f"batch {it.batch.path.name}: "
                                   + ("accepted" if it.accepted else
                                      f"refused by {it.refused_by}: {it.reason}"),))
    entry = record(Evidence.of(pred, [Subject(f"batch:{it.batch.path.name}", digest)]), ws)
    return replace(it, entry=entry.index)
