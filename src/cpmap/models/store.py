"""The workspace model store: content-addressed artifacts plus a training record per version.

A model version is ``name@N``; its artifact (safetensors or skops bytes) lives in the
workspace objects under its SHA-256, and its record (dataset digests, config, seed, metrics,
library versions) in the ``models`` table. Saving records CP4 ``model-training`` evidence
whose subject is the model digest, in the same transaction as the row.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from cpmap.core.names import check_name
from cpmap.core.refs import Ref
from cpmap.errors import InputError
from cpmap.models.persist import load_bytes, model_bytes
from cpmap.models.protocol import Model

if TYPE_CHECKING:
    from cpmap.core.evidence import Subject
    from cpmap.core.workspace import Workspace
    from cpmap.robustness.predicates import StoredModelEvidence


@dataclass(frozen=True)
class StoredModel:
    """A trained model kept in the model store (``name@N`` of the ``models`` table).

    Not a registry version: registering one (``cpmap registry register NAME MODEL@N``) makes a
    signed :class:`cpmap.registry.manifest.ModelVersion` of it, the one model-version type.
    """

    name: str
    version: int
    digest: str
    format: str
    arch: str
    record: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    entry: int = -1

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def lineage_record(self) -> dict[str, Any]:
        """The training record a registry version made of this model keeps as lineage."""
        return {**dict(self.record), "model_store": {"ref": self.ref, "entry": self.entry},
                "arch": self.arch, "format": self.format}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "ref": self.ref,
                "digest": self.digest, "format": self.format, "arch": self.arch,
                "created_at": self.created_at, "entry": self.entry,
                "record": dict(self.record)}


def library_versions() -> dict[str, str]:
    """Versions of what shaped the model: recorded so a retrain can be reproduced."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("cpmap", "numpy", "torch", "scikit-learn", "safetensors", "skops", "opacus"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def file_encoding(data: bytes, model: Model) -> tuple[bytes, str, dict[str, Any]] | None:
    """A safe-format file's own bytes as its encoding (same digest as the file), or None.

    Re-serializing a skops file is not byte-stable, so storing the user's bytes is what keeps
    one model one digest across ``models add``, the registry and the evidence.
    """
    from cpmap.models.adapters import SklearnModel, TorchModel
    from cpmap.models.persist import detect_format

    fmt = detect_format(data)
    if fmt == "skops" and isinstance(model, SklearnModel):
        import skops.io as sio

        return data, fmt, {"arch": type(model.estimator).__name__,
                           "untrusted_types": [str(t) for t in
                                               sio.get_untrusted_types(data=data)]}
    if fmt == "safetensors" and isinstance(model, TorchModel):
        return data, fmt, {"arch": model.spec.arch, "spec": json.loads(model.spec.to_json())}
    return None


def save_model(ws: Workspace, name: str, model: Model, record: Mapping[str, Any],
               predicate: StoredModelEvidence | None = None, subjects: Sequence[Subject] = (),
               encoded: tuple[bytes, str, dict[str, Any]] | None = None) -> StoredModel:
    """Store ``model`` as the next version of ``name`` with its training record.

    ``predicate`` (CP4, usually ``model-training``) is recorded about the model digest (first
    subject) and ``subjects`` (its training data, a teacher), committed with the row; without
    it a plain ``model-registration`` INFO entry is recorded.
    """
    from cpmap.core.evidence import Evidence, Subject, Verdict
    from cpmap.core.evidence import record as record_evidence
    from cpmap.core.ledger import Ledger
    from cpmap.models.tables import models
    from cpmap.robustness.predicates import ModelRegistration

    check_name("model", name)
    data, fmt, extra = encoded or model_bytes(model)
    digest = hashlib.sha256(data).hexdigest()
    ws.put_object(data, digest)
    full = {**dict(record), **extra, "libraries": library_versions(), "meta": _meta(model)}
    base = predicate or ModelRegistration(verdict=Verdict.INFO)
    others = [s for s in subjects if s.digest != digest]
    stored_record = json.dumps(full, sort_keys=True, default=str)
    with ws.store.write() as conn:
        version = int(conn.execute(select(func.coalesce(func.max(models.c.version), 0))
                                   .where(models.c.name == name)).scalar_one()) + 1
        stored = replace(base, model=name, version=version, format=fmt, arch=str(extra["arch"]),
                         record_sha256=hashlib.sha256(stored_record.encode()).hexdigest())
        ev = Evidence.of(stored, [Subject(f"{name}@{version}", digest), *others])
        entry = record_evidence(ev, ws, conn)
        conn.execute(insert(models).values(
            name=name, version=version, digest=digest, format=fmt, arch=str(extra["arch"]),
            record=stored_record,
            created_at=entry.created_at, entry=entry.index))  # the signed timestamp
    Ledger(ws).witness(entry)
    return StoredModel(name, version, digest, fmt, str(extra["arch"]), full, entry.created_at,
                       entry.index)


def _meta(model: Model) -> dict[str, Any]:
    return dict(getattr(model, "meta", {}) or {})


def _row(r: Mapping[str, Any]) -> StoredModel:
    try:
        rec = json.loads(r["record"])
    except ValueError:
        rec = {}
    return StoredModel(r["name"], int(r["version"]), r["digest"], r["format"], r["arch"], rec,
                       r["created_at"], int(r["entry"]))


def get_model(ws: Workspace, ref: str) -> StoredModel:
    """``name`` (latest), ``name@N`` or ``sha256:<hex>``, from the verified table (a row the
    signed log does not back is an integrity error, never a silently different model)."""
    if ref.startswith("sha256:"):
        digest = ref[7:].lower()
        found = [m for m in list_models(ws) if m.digest == digest]
    else:
        parsed = Ref.parse(ref, "model")
        found = [m for m in list_models(ws) if m.name == parsed.name
                 and parsed.version in (None, m.version)]
    if not found:
        raise InputError(f"model {ref!r}: not in the workspace", hint="cpmap models list")
    return max(found, key=lambda m: m.version)


def list_models(ws: Workspace) -> list[StoredModel]:
    """Every stored version, each row checked against its signed entry."""
    from cpmap.models.signed_rows import verified_models

    rows = verified_models(ws)
    return [_row(r) for r in sorted(rows, key=lambda r: (str(r["name"]), int(r["version"])))]


def load_version(ws: Workspace, mv: StoredModel, trusted_types: Iterable[str] = ()) -> Model:
    """Load a stored version, checking its bytes against the recorded digest."""
    from cpmap.core.artifacts import load_object

    data = load_object(ws, mv.digest)
    if data is None:
        from cpmap.errors import VerificationFailed

        raise VerificationFailed(f"model {mv.ref}: artifact sha256:{mv.digest[:16]} is missing "
                                 "or altered in the workspace objects")
    if isinstance(mv.record.get("byo"), dict):  # a user's own model, behind its feature schema
        from cpmap.models.byo import load_byo

        own: Model = load_byo(data, f"model {mv.ref}", mv.record["byo"], ws=ws,
                              suffix=str(mv.record["byo"].get("suffix", "")))
        return own
    trusted = set(trusted_types) | set(mv.record.get("untrusted_types", []) if
                                       mv.record.get("types_reviewed") else [])
    return load_bytes(data, f"model {mv.ref}", ws=ws, trusted_types=trusted,
                      meta=dict(mv.record.get("meta") or {}))
