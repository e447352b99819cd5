"""Golden sets: labelled, representative data signed as a CP1 dataset, re-run on a schedule.

:func:`register` copies the file into the workspace under its content digest, signs its
manifest with the workspace key (a CP1 ``data-signature``) and registers it as a CP1 dataset.
:func:`run` loads a version from its verified bytes, predicts the golden set through the
model's own preprocessing and compares with the version's validation figure: a drop beyond
``max_drop`` (or accuracy under ``min_accuracy``) fails, which the CP9 gate requirement and
the CP10 retraining trigger read.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.evidence import Evidence, Subject, record
from cpmap.core.findings import Finding, Location, Severity, Verdict
from cpmap.drift import models as md
from cpmap.drift.evidence import DRIFT_TAGS
from cpmap.drift.predicates import GoldenRun
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.provenance.datasets import DatasetVersion


@dataclass(frozen=True)
class GoldenPolicy:
    """``[golden]`` in cpmap.toml: how far a version may fall on its golden set."""

    max_drop: float = 0.05  # accuracy below the validation figure by more than this fails
    min_accuracy: float = 0.0  # an absolute floor besides

    def __post_init__(self) -> None:
        if not (0 <= self.max_drop <= 1 and 0 <= self.min_accuracy <= 1):
            raise InputError("[golden] max_drop and min_accuracy must be in [0, 1]")


def load_policy(ws: Workspace | None, **overrides: Any) -> GoldenPolicy:
    section = ws.config.get("golden", {}) if ws is not None else {}
    values = dict(section) if isinstance(section, dict) else {}
    known = {f.name for f in fields(GoldenPolicy)}
    if set(values) - known:
        raise InputError(f"[golden] unknown setting(s) {', '.join(set(values) - known)}")
    try:
        values = {k: float(v) for k, v in values.items()}
    except (TypeError, ValueError) as e:
        raise InputError(f"[golden]: {e}") from e
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GoldenPolicy(**values)


def register(ws: Workspace, name: str, data: Path) -> DatasetVersion:
    """Sign and register ``data`` as golden set ``name`` (the next version of that dataset)."""
    from cpmap.drift.frame import read_file
    from cpmap.provenance import manifest
    from cpmap.provenance.datasets import register_dataset

    if not data.is_file():
        raise InputError(f"{data}: no such file (a golden set is one labelled table or .npz)")
    read_file(data)  # unreadable data is refused before anything is copied or recorded
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    home = ws.dir / "golden"
    home.mkdir(parents=True, exist_ok=True)
    kept = home / f"{name}-{digest[:16]}{data.suffix.lower()}"
    if not kept.exists():
        shutil.copyfile(data, kept)
    fp, env = manifest.sign_fingerprint(kept, ws.signing_key)
    attestation = kept.with_name(kept.name + ".dsse.json")
    attestation.write_text(manifest.dump(env))
    dv = register_dataset(ws, name, kept)
    manifest.record_signature(ws, kept, fp, attestation)
    return dv


def holdout(ws: Workspace, mv: Any, folder: Path, name: str | None = None) -> DatasetVersion:
    """Register the held-out split of ``mv``'s training data (its recipe's ``test_size`` and
    ``seed``: rows it was not fitted on) as golden set ``name`` (default ``<model>-golden``).

    A starting golden set for a version that has none yet (the test kits, the demo's
    bootstrap); a curated, labelled set registered with :func:`register` is better. Rows are
    stored as the model reads them (preprocessed), labels by class name.
    """
    from cpmap.models.datasets import load_dataset

    if not mv.lineage.datasets:
        raise InputError(f"{mv.ref}: no training data in its lineage to hold a split out of")
    cfg = (mv.lineage.training or {}).get("config") or {}
    ds = load_dataset(f"sha256:{mv.lineage.datasets[0].digest}", ws, label=cfg.get("label"),
                      purpose=f"golden set of {mv.ref}")
    _, test = ds.split(float(cfg.get("test_size", 0.25)), int(cfg.get("seed", 0)))
    labels = np.asarray(test.classes)[test.y]
    arrays = {"x": test.x, "y": labels}
    pre_label = (ds.preprocess or {}).get("label")
    if isinstance(pre_label, str) and pre_label.isidentifier():
        arrays[pre_label] = labels  # tabular models read their label column by name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{mv.name}-{mv.version}-holdout.npz"
    np.savez(path, **arrays)
    return register(ws, name or f"{mv.name}-golden", path)


@dataclass(frozen=True)
class GoldenResult:
    model: str
    golden: str
    rows: int
    accuracy: float
    accuracy_lower: float
    macro_f1: float
    per_class_recall: dict[str, float]
    reference: md.Figure | None
    policy: GoldenPolicy
    passed: bool
    reasons: tuple[str, ...]
    entry: int | None = None

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference
        return {"model": self.model, "golden": self.golden, "rows": self.rows,
                "accuracy": round(self.accuracy, 4), "accuracy_lower_95": round(
                    self.accuracy_lower, 4), "macro_f1": round(self.macro_f1, 4),
                "per_class_recall": self.per_class_recall,
                "reference": None if ref is None else {"source": ref.source,
                                                       "accuracy": ref.accuracy},
                "max_drop": self.policy.max_drop, "min_accuracy": self.policy.min_accuracy,
                "verdict": "pass" if self.passed else "fail", "reasons": list(self.reasons),
                "entry": self.entry}


def wilson_lower(k: int, n: int, z: float = 1.959964) -> float:
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - spread) / (1 + z * z / n))


def scores(y: np.ndarray, pred: np.ndarray, classes: tuple[str, ...]
           ) -> tuple[float, float, dict[str, float]]:
    """Accuracy, macro F1 and per-class recall (classes absent from ``y`` left out)."""
    from sklearn.metrics import f1_score, recall_score

    present = sorted({int(c) for c in y})
    acc = float(np.mean(pred == y)) if len(y) else 0.0
    f1 = float(f1_score(y, pred, labels=present, average="macro", zero_division=0))
    rec = recall_score(y, pred, labels=present, average=None, zero_division=0)
    return acc, f1, {classes[c]: round(float(r), 4) for c, r in zip(present, rec, strict=True)}


def run(ws: Workspace, model_ref: str, golden: str | None = None,
        policy: GoldenPolicy | None = None, label: str | None = None) -> GoldenResult:
    """Re-validate a version on its golden set (default: the dataset ``<model>-golden``)."""
    policy = policy or load_policy(ws)
    mv = md.version(ws, model_ref)
    model = md.load(ws, mv)
    ds = md.labelled(ws, golden or f"{mv.name}-golden", model, label)
    if len(ds.y) == 0:
        raise InputError(f"golden set {ds.ref}: no rows")
    pred = np.argmax(md.predict(model, ds.x), axis=1)
    acc, f1, recall = scores(ds.y, pred, ds.classes)
    lower = wilson_lower(int(np.sum(pred == ds.y)), len(ds.y))
    reference = md.validation_figure(ws, mv, ds.digest, ds.ref.split("@")[0])
    reasons = []
    if reference is not None and acc < reference.accuracy - policy.max_drop:
        reasons.append(f"accuracy {acc:.3f} on {ds.ref} is more than {policy.max_drop} below "
                       f"{reference.accuracy:.3f} ({reference.source})")
    if acc < policy.min_accuracy:
        reasons.append(f"accuracy {acc:.3f} under the floor {policy.min_accuracy}")
    result = GoldenResult(mv.ref, ds.ref, len(ds.y), acc, lower, f1, recall, reference, policy,
                          not reasons, tuple(reasons))
    entry = _record(ws, result, mv, ds.digest, hashlib.sha256(pred.tobytes()).hexdigest())
    return GoldenResult(**{**result.__dict__, "entry": entry})


def _record(ws: Workspace, r: GoldenResult, mv: Any, golden_digest: str,
            pred_digest: str) -> int:
    findings = tuple(Finding("CP9-GOLDEN-DROP", Severity.HIGH, reason, Location(r.golden),
                             "Investigate drift or poisoning; retrain or roll back.",
                             DRIFT_TAGS) for reason in r.reasons)
    ref_acc = r.reference.accuracy if r.reference else None
    highlights = (f"{r.model} on {r.golden}: accuracy {r.accuracy:.3f} (95% lower "
                  f"{r.accuracy_lower:.3f}, n={r.rows}), macro F1 {r.macro_f1:.3f}",
                  "reference: " + (f"{ref_acc:.3f} ({r.reference.source})" if r.reference
                                   else "none recorded (floor only)"))
    pred = GoldenRun(verdict=Verdict.PASS if r.passed else Verdict.FAIL, findings=findings,
                     highlights=highlights, rows=r.rows, accuracy=round(r.accuracy, 6),
                     accuracy_lower=round(r.accuracy_lower, 6), macro_f1=round(r.macro_f1, 6),
                     reference_accuracy=ref_acc, max_drop=r.policy.max_drop, golden=r.golden,
                     per_class_recall=r.per_class_recall, predictions_digest=pred_digest)
    entry = record(Evidence.of(pred, [Subject(mv.ref, mv.digest),
                                      Subject(r.golden, golden_digest)]), ws)
    return entry.index
