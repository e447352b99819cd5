"""CP1 evidence kinds: what provenance checks record, as the gate and the report read them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class DatasetRegistration(Predicate):
    """A dataset version registered from a source (and, with a supplier, its attestation)."""

    kind: ClassVar[str] = "dataset-registration"
    control: ClassVar[str] = "CP1"
    files: int | None = metric(unit="count")
    bytes: int | None = metric(unit="bytes")
    untrusted: int = metric(0, unit="count")  # findings about the source or the attestation
    dataset: str = detail("")
    version: int | None = detail()
    source: str = detail("")
    supplier: str | None = detail()
    license: str | None = detail()
    data_kind: str = detail("", key="kind")  # "file" | "tree" | "table"
    table_digest: str | None = detail()
    parents: tuple[str, ...] = detail(factory=tuple)
    transform: str = detail("")
    #: where the workspace keeps the files (as the store row holds it: relative to the
    #: workspace root when inside it); signed so that the row's path is checked too
    stored_path: str = detail("", key="path")


@dataclass(frozen=True, kw_only=True)
class DataSignature(Predicate):
    """``cpmap data sign``: a DSSE manifest over a file or tree, signed by the workspace key."""

    kind: ClassVar[str] = "data-signature"
    control: ClassVar[str] = "CP1"
    files: int = metric(0, unit="count")
    bytes: int = metric(0, unit="bytes")
    attestation: str = detail("")
    keyid: str = detail("")


@dataclass(frozen=True, kw_only=True)
class DataVerification(Predicate):
    """``cpmap data verify``: files checked against a signed manifest."""

    kind: ClassVar[str] = "data-verification"
    control: ClassVar[str] = "CP1"
    modified_count: int = metric(0, key="modified", unit="count")
    missing_count: int = metric(0, key="missing", unit="count")
    added_count: int = metric(0, key="added", unit="count")
    path: str = detail("")
    ok: bool = detail(False)
    signed_by: str | None = detail()
    signer_keyid: str | None = detail()
    expected_digest: str | None = detail()
    actual_digest: str | None = detail()
    modified: tuple[str, ...] = detail(factory=tuple)
    missing: tuple[str, ...] = detail(factory=tuple)
    added: tuple[str, ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class DatasetAccess(Predicate):
    """A verified read of a registered dataset (``open_dataset``): who, why, intact or not."""

    kind: ClassVar[str] = "dataset-access"
    control: ClassVar[str] = "CP1"
    integrity_ok: bool = metric(False)
    principal: str = detail("")
    purpose: str = detail("")
    action: str = detail("")
    dataset: str = detail("")


@dataclass(frozen=True, kw_only=True)
class DataTransform(Predicate):
    """One recorded transformation: inputs -> outputs, with its parameters."""

    kind: ClassVar[str] = "data-transform"
    control: ClassVar[str] = "CP1"
    input_count: int = metric(0, key="inputs", unit="count")
    output_count: int = metric(0, key="outputs", unit="count")
    seconds: float = metric(0.0, unit="seconds")
    transform: str = detail("")
    params: Mapping[str, Any] = detail(factory=dict)
    inputs: tuple[Mapping[str, str], ...] = detail(factory=tuple)  # {"ref", "sha256"}
    outputs: tuple[Mapping[str, str], ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class TrustKeyChange(Predicate):
    """A supplier key added to or removed from the trust store."""

    kind: ClassVar[str] = "trust-key"
    control: ClassVar[str] = "CP1"
    action: str = detail("")  # "add" | "remove"
    name: str = detail("")
    keyid: str = detail("")


@dataclass(frozen=True, kw_only=True)
class IntegrityDrill(Predicate):
    """A deliberate tampering of a copy, and whether verification caught it."""

    kind: ClassVar[str] = "integrity-drill"
    control: ClassVar[str] = "CP1"
    tamper_detected: bool = metric(False)
    modified: int = metric(0, unit="count")


KINDS = (DatasetRegistration, DataSignature, DataVerification, DatasetAccess, DataTransform,
         TrustKeyChange, IntegrityDrill)
