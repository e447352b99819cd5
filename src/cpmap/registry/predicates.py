"""CP6 evidence kinds: registered versions, model cards, aliases, promotion and rollback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP6(Predicate):
    control: ClassVar[str] = "CP6"


@dataclass(frozen=True, kw_only=True)
class RegistryVersion(_CP6):
    """An immutable, signed model version with its lineage."""

    kind: ClassVar[str] = "registry-version"
    version_number: int = metric(0, key="version")
    bytes: int = metric(0, unit="bytes")
    files: int = metric(0, unit="count")
    datasets: int = metric(0, unit="count")
    name: str = detail("")
    version: int = detail(0)
    digest: str = detail("")
    lineage: Mapping[str, Any] = detail(factory=dict)
    card_fields: tuple[str, ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class ModelCard(_CP6):
    """A version's model card (content-addressed) and which of its fields are filled."""

    kind: ClassVar[str] = "model-card"
    fields_filled: int = metric(0, unit="count")
    fields_missing: int = metric(0, unit="count")
    demographic_parity_difference: float | None = metric()
    equalized_odds_difference: float | None = metric()
    name: str = detail("")
    version: int = detail(0)
    card_sha256: str = detail("")
    filled: tuple[str, ...] = detail(factory=tuple)
    missing: tuple[str, ...] = detail(factory=tuple)
    fairness: Mapping[str, Any] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class _Move(_CP6):
    name: str = detail("")
    version: int = detail(0)
    previous: int | None = detail()  # the version the alias pointed at before


@dataclass(frozen=True, kw_only=True)
class AliasSet(_Move):
    kind: ClassVar[str] = "registry-alias"
    alias: str = detail("")


@dataclass(frozen=True, kw_only=True)
class Promotion(_Move):
    """A version moved to a stage after its gate passed; ``gate`` is the gate's summary."""

    kind: ClassVar[str] = "registry-promotion"
    version_number: int = metric(0, key="version")
    stage: str = detail("")
    gate: Mapping[str, Any] = detail(factory=dict)
    #: the effective gate policy it was judged by (cpmap.toml and every CPMAP_* override,
    #: ``Policy.to_dict()``), its SHA-256, and the settings that differ from the defaults
    policy: Mapping[str, Any] = detail(factory=dict)
    policy_sha256: str = detail("")
    policy_overrides: Mapping[str, Any] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class PromotionRefused(_CP6):
    kind: ClassVar[str] = "registry-promotion-refused"
    version_number: int = metric(0, key="version")
    name: str = detail("")
    version: int = detail(0)
    stage: str = detail("")
    gate: Mapping[str, Any] = detail(factory=dict)
    reasons: tuple[str, ...] = detail(factory=tuple)
    policy: Mapping[str, Any] = detail(factory=dict)  # as in Promotion
    policy_sha256: str = detail("")
    policy_overrides: Mapping[str, Any] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class Rollback(_Move):
    kind: ClassVar[str] = "registry-rollback"
    version_number: int = metric(0, key="version")
    from_version_number: int = metric(0, key="from_version")
    stage: str = detail("")
    from_version: int = detail(0)


@dataclass(frozen=True, kw_only=True)
class ModelSigning(_CP6):
    """An OpenSSF model-signing bundle made for a version."""

    kind: ClassVar[str] = "registry-model-signing"
    name: str = detail("")
    version: int = detail(0)
    bundle_sha256: str = detail("")
    public_key: str = detail("")


KINDS = (RegistryVersion, ModelCard, AliasSet, Promotion, PromotionRefused, Rollback,
         ModelSigning)
