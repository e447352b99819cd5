"""CP7 evidence kinds (and the CP8 alert the gateway raises): keys, serving, budgets, the
prediction log's batch roots, and attacks on a live gateway."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP7(Predicate):
    control: ClassVar[str] = "CP7"


@dataclass(frozen=True, kw_only=True)
class GatewayKey(_CP7):
    """An API key created or revoked; the subject is its keyed hash (never the key)."""

    kind: ClassVar[str] = "gateway-key"
    scope_count: int = metric(0, key="scopes", unit="count")
    action: str = detail("")  # "create" | "revoke"
    client: str = detail("")
    key_id: str = detail("")
    scopes: tuple[str, ...] = detail(factory=tuple, key="scope_list")
    rate: str = detail("")
    budget: str = detail("")
    output: str = detail("")
    created_at: str | None = detail()
    revoked_at: str | None = detail()


@dataclass(frozen=True, kw_only=True)
class GatewayServe(_CP7):
    """A version put in service: its gate passed, or the unsafe override was used."""

    kind: ClassVar[str] = "gateway-serve"
    gate_passed: bool = metric(False)
    unsafe_allow_ungated: bool = metric(False)
    reasons: tuple[str, ...] = detail(factory=tuple)
    settings: Mapping[str, Any] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class GatewayBudget(_CP7):
    """The per-client query budget and default output chosen for a version, and why."""

    kind: ClassVar[str] = "gateway-budget"
    budget_queries: int = metric(0, unit="count")
    budget_window: str = metric("")
    reason: str = detail("")
    default_output: str = detail("")
    cp5_entry: int | None = detail()  # the extraction evidence the budget was sized from


@dataclass(frozen=True, kw_only=True)
class GatewayPredictions(_CP7):
    """One batch of the prediction log: the RFC 6962 root over its entries."""

    kind: ClassVar[str] = "gateway-predictions"
    entries: int = metric(0, unit="count")
    refused: int = metric(0, unit="count")
    # the traffic of this gateway process so far (every batch before this one, and this one)
    requests_total: int = metric(0, unit="count")
    refused_total: int = metric(0, unit="count")
    rows_total: int = metric(0, unit="count")
    refusals: Mapping[str, int] = detail(factory=dict)  # "429 budget" -> count, cumulative
    started: str = detail("")
    merkle_root: str = detail("")
    first: str = detail("")
    last: str = detail("")
    hash: str = detail("")


@dataclass(frozen=True, kw_only=True)
class GatewayCheck(_CP7):
    """``cpmap gateway check``: every attack against a live gateway and what it answered."""

    kind: ClassVar[str] = "gateway-check"
    checks: int = metric(0, unit="count")
    failed: int = metric(0, unit="count")
    url: str = detail("")
    results: tuple[Mapping[str, Any], ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class GatewayAlert(Predicate):
    """A CP8 alert raised by the gateway: a spent query budget, a limiter failing open."""

    kind: ClassVar[str] = "gateway-alert"
    control: ClassVar[str] = "CP8"
    alerts: int = metric(1, unit="count")
    alert: str = detail("")
    message: str = detail("")
    client: str | None = detail()
    window: str | None = detail()
    info: Mapping[str, Any] = detail(factory=dict)


KINDS = (GatewayKey, GatewayServe, GatewayBudget, GatewayPredictions, GatewayCheck)
ALERTS = (GatewayAlert,)
