"""CP8 evidence kinds: the input baseline of a version, an alert, a window summary.

``monitor-baseline`` is about the version (its digest) and names the dataset digests it was
built from and the stored baseline object (JSON, content-addressed) the gateway loads.
``monitor-alert`` is one alert (sustained low confidence, OOD rate, probing) with its ATLAS tag
as a finding. ``monitor-summary`` is a window of the prediction log: counts, rates with
intervals, and the confidence / OOD-rate-over-time plot the report shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP8(Predicate):
    control: ClassVar[str] = "CP8"


@dataclass(frozen=True, kw_only=True)
class MonitorBaseline(_CP8):
    """A version's input baseline: OOD detector and calibrated thresholds."""

    kind: ClassVar[str] = "monitor-baseline"
    rows: int = metric(0, unit="count")
    calibration_rows: int = metric(0, unit="count")
    features: int = metric(0, unit="count")
    target_fpr: float = metric(0.01, unit="ratio")
    calibrated_fpr: float = metric(0.0, unit="ratio")  # on the calibration rows themselves
    # measured on held-out check rows used for nothing else (None: not estimable)
    check_rows: int = metric(0, unit="count")
    check_false_alarms: int = metric(0, unit="count")
    false_alarm_rate: float | None = metric(None, unit="ratio")
    false_alarm_low: float | None = metric(None, unit="ratio")
    false_alarm_high: float | None = metric(None, unit="ratio")
    baseline_sha256: str = detail("")
    model_digest: str = detail("")
    datasets: tuple[Mapping[str, Any], ...] = detail(factory=tuple)
    scores: tuple[str, ...] = detail(factory=tuple)
    reported: Mapping[str, str] = detail(factory=dict)  # output scores alone: false alarms


@dataclass(frozen=True, kw_only=True)
class MonitorAlert(_CP8):
    """One alert: what, on which model, which client (hashed), the window, the signal."""

    kind: ClassVar[str] = "monitor-alert"
    alerts: int = metric(1, unit="count")
    alert: str = detail("")
    atlas: str = detail("")
    message: str = detail("")
    client: str | None = detail()  # hashed client id
    window: str | None = detail()
    action: str = detail("alert")
    info: Mapping[str, Any] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class MonitorSummary(_CP8):
    """A window of the monitored prediction log (``cpmap monitor status --record``)."""

    kind: ClassVar[str] = "monitor-summary"
    predictions: int = metric(0, unit="count")
    refused: int = metric(0, unit="count")
    ood: int = metric(0, unit="count")
    ood_rate: float | None = metric(None, unit="ratio")
    ood_rate_low: float | None = metric(None, unit="ratio")
    ood_rate_high: float | None = metric(None, unit="ratio")
    mean_confidence: float | None = metric(None, unit="ratio")
    low_confidence: int = metric(0, unit="count")
    alert_count: int = metric(0, key="alerts", unit="count")
    window: str = detail("")
    top_refused: tuple[Mapping[str, Any], ...] = detail(factory=tuple)
    alert_kinds: Mapping[str, int] = detail(factory=dict)


KINDS = (MonitorBaseline, MonitorAlert, MonitorSummary)
