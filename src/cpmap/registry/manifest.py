"""A model version's manifest: an in-toto statement about the model digest, DSSE-signed.

The manifest is the version: name, number, artifact files and digests, and the lineage captured
at registration (datasets, training record, code commit, environment SBOM, parent version). It
is signed with the workspace key when the version is created and verified every time it is
loaded, so a row edited in the store is reported, never used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cpmap._version import __version__
from cpmap.core import dsse
from cpmap.core.evidence import STATEMENT_TYPE, canonical_json
from cpmap.core.keys import PublicKey, SigningKey
from cpmap.errors import InputError, SignatureError
from cpmap.registry.artifact import Artifact

MANIFEST_TYPE = "https://cpmap.dev/registry/model-version/v1"


@dataclass(frozen=True)
class DatasetRef:
    name: str
    version: int | None
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "digest": self.digest}


@dataclass(frozen=True)
class Lineage:
    """Where a version comes from, as recorded (and signed) when it was registered."""

    datasets: tuple[DatasetRef, ...] = ()
    training: Mapping[str, Any] | None = None
    git: Mapping[str, Any] | None = None
    sbom: str | None = None
    parent: Mapping[str, Any] | None = None
    evidence: tuple[int, ...] = ()
    # The build environment's CP3 scans current at registration: {kind, entry, digests}.
    environment: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"datasets": [d.to_dict() for d in self.datasets],
                "training": dict(self.training) if self.training else None,
                "git": dict(self.git) if self.git else None, "sbom": self.sbom,
                "parent": dict(self.parent) if self.parent else None,
                "evidence": list(self.evidence),
                "environment": [dict(e) for e in self.environment]}

    @property
    def environment_digests(self) -> set[str]:
        out = {self.sbom} if self.sbom else set()
        for e in self.environment:
            out.update(str(d) for d in e.get("digests") or [])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        return cls(
            datasets=tuple(DatasetRef(str(d["name"]), d.get("version"), str(d["digest"]))
                           for d in data.get("datasets") or []),
            training=data.get("training"), git=data.get("git"), sbom=data.get("sbom"),
            parent=data.get("parent"), evidence=tuple(int(i) for i in data.get("evidence") or []),
            environment=tuple(e for e in data.get("environment") or [] if isinstance(e, dict)),
        )


@dataclass(frozen=True)
class ModelVersion:
    """A verified model version (only :func:`open_manifest` makes these from stored rows)."""

    name: str
    version: int
    artifact: Artifact
    lineage: Lineage
    card: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    entry: int = -1

    @property
    def digest(self) -> str:
        return self.artifact.digest

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "digest": self.digest,
                "created_at": self.created_at, "ledger_entry": self.entry,
                "artifact": self.artifact.to_dict(), "lineage": self.lineage.to_dict(),
                "card": dict(self.card)}


def statement(name: str, version: int, artifact: Artifact, lineage: Lineage,
              card: Mapping[str, Any], created_at: str | None = None) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"model:{name}@{version}", "digest": {"sha256": artifact.digest}}],
        "predicateType": MANIFEST_TYPE,
        "predicate": {
            "name": name, "version": version,
            "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
            "artifact": artifact.to_dict(), "lineage": lineage.to_dict(), "card": dict(card),
            "tool": {"name": "cpmap", "version": __version__},
        },
    }


def sign_manifest(st: dict[str, Any], key: SigningKey) -> dsse.Envelope:
    return dsse.sign(canonical_json(st), key)


def open_manifest(data: bytes | str, key: PublicKey, *, name: str, version: int, digest: str,
                  entry: int = -1) -> ModelVersion:
    """Verify a stored manifest and check that it is the row it was stored as."""
    where = f"model {name}@{version}"
    try:
        envelope = dsse.parse_envelope(data, f"{where} manifest")
    except InputError as e:
        raise SignatureError(f"{where}: stored manifest is not a DSSE envelope (edited)") from e
    try:
        envelope.verify([key], f"{where} manifest")
    except SignatureError as e:
        raise SignatureError(f"{where}: manifest signature does not verify (edited or forged)",
                             hint="cpmap registry verify") from e
    st = envelope.statement()
    pred = st.get("predicate") or {}
    if st.get("predicateType") != MANIFEST_TYPE or not isinstance(pred, dict):
        raise SignatureError(f"{where}: signed payload is not a cpmap model-version manifest")
    try:
        artifact = Artifact.from_dict(pred["artifact"])
        lineage = Lineage.from_dict(pred.get("lineage") or {})
        subject = st["subject"][0]["digest"]["sha256"]
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise InputError(f"{where}: manifest is malformed ({e})") from e
    if (pred.get("name"), pred.get("version"), artifact.digest, subject) != (
            name, version, digest, digest):
        raise SignatureError(f"{where}: store row does not match its signed manifest "
                             "(name, version or digest edited)")
    card = pred.get("card") if isinstance(pred.get("card"), dict) else {}
    return ModelVersion(name, version, artifact, lineage, card or {},
                        str(pred.get("created_at", "")), entry)
