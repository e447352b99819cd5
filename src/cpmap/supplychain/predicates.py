"""CP3 evidence kinds: dependency, secret, model-file and image scans, the SBOM, data access."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP3(Predicate):
    control: ClassVar[str] = "CP3"


@dataclass(frozen=True, kw_only=True)
class DependencyScan(_CP3):
    """Pinned dependencies matched against an OSV database."""

    kind: ClassVar[str] = "dependency-scan"
    dependencies: int = metric(0, unit="count")
    vulnerable: int = metric(0, unit="count")
    vulnerabilities: int = metric(0, unit="count")
    skipped_count: int = metric(0, key="skipped", unit="count")
    critical: int = metric(0, unit="count")
    high: int = metric(0, unit="count")
    medium: int = metric(0, unit="count")
    low: int = metric(0, unit="count")
    database: Any = detail()
    skipped: tuple[Mapping[str, Any], ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class SecretsFound(_CP3):
    """Secrets found in a tree (values masked), with those reviewed into the baseline."""

    kind: ClassVar[str] = "secret-scan"
    files_scanned: int = metric(0, unit="count")
    secrets: int = metric(0, unit="count")
    baselined: int = metric(0, unit="count")
    bytes_scanned: int = metric(0, unit="bytes")
    files_skipped: int = metric(0, unit="count")
    rules: tuple[str, ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class ModelScan(_CP3):
    """Model files analysed without loading them: safe, suspicious or malicious."""

    kind: ClassVar[str] = "model-scan"
    files: int = metric(0, unit="count")
    safe: int = metric(0, unit="count")
    suspicious: int = metric(0, unit="count")
    malicious: int = metric(0, unit="count")
    unclassified_count: int = metric(0, key="unclassified", unit="count")
    bytes_read: int = metric(0, unit="bytes")
    bytes_total: int = metric(0, unit="bytes")
    scanned: tuple[Mapping[str, Any], ...] = detail(factory=tuple, key="files")
    unclassified: tuple[Mapping[str, Any], ...] = detail(factory=tuple)  # files not recognised

    @property
    def worst(self) -> str:
        """The worst file verdict: what ``model_files = "safe"`` in the gate checks."""
        if self.malicious:
            return "malicious"
        return "suspicious" if self.suspicious else "safe"


@dataclass(frozen=True, kw_only=True)
class ImageScan(_CP3):
    """Container image references: pinned by digest, allowed by the image policy."""

    kind: ClassVar[str] = "image-scan"
    files: int = metric(0, unit="count")
    images: int = metric(0, unit="count")
    pinned: int = metric(0, unit="count")
    finding_count: int = metric(0, key="findings", unit="count")
    skipped: int = metric(0, unit="count")
    scanned: Mapping[str, str] = detail(factory=dict, key="files")


@dataclass(frozen=True, kw_only=True)
class Sbom(_CP3):
    """A CycloneDX ML-BOM of the environment, stored as a workspace object."""

    kind: ClassVar[str] = "sbom"
    packages: int = metric(0, unit="count")
    datasets: int = metric(0, unit="count")
    models: int = metric(0, unit="count")
    object: str = detail("")
    format: str = detail("")


@dataclass(frozen=True, kw_only=True)
class AccessRefused(_CP3):
    """A data access the least-privilege policy refused."""

    kind: ClassVar[str] = "access-denied"
    denied: int = metric(1, unit="count")
    principal: str = detail("")
    action: str = detail("")
    dataset: str = detail("")
    reason: str = detail("")


@dataclass(frozen=True, kw_only=True)
class AccessReview(_CP3):
    """A review of the access policy: over-broad and stale grants."""

    kind: ClassVar[str] = "access-review"
    principals: int = metric(0, unit="count")
    roles: int = metric(0, unit="count")
    finding_count: int = metric(0, key="findings", unit="count")


@dataclass(frozen=True, kw_only=True)
class AccessPolicyChange(_CP3):
    """The access policy in force changed: recorded before the first decision made with it, so
    the log says which policy every later access entry was decided by."""

    kind: ClassVar[str] = "access-policy"
    principals: int = metric(0, unit="count")
    roles: int = metric(0, unit="count")
    policy_sha256: str = detail("")
    previous_sha256: str | None = detail()
    policy: Mapping[str, Any] = detail(factory=dict)


KINDS = (DependencyScan, SecretsFound, ModelScan, ImageScan, Sbom, AccessRefused, AccessReview,
         AccessPolicyChange)
