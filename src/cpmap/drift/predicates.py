"""CP9 evidence kinds: drift, performance, golden-set runs and slow-poisoning checks.

Each is signed evidence about one model version (and the data it compared). The CP10 retraining
trigger reads exactly these kinds: a failing ``drift``, ``performance``, ``golden-run`` or
``poisoning`` entry about the production version is a reason to retrain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP9(Predicate):
    control: ClassVar[str] = "CP9"


@dataclass(frozen=True, kw_only=True)
class DriftReport(_CP9):
    """``cpmap monitor drift``: per-feature tests (BH-corrected), the multivariate test."""

    kind: ClassVar[str] = "drift"
    features: int = metric(0, unit="count")
    drifted: int = metric(0, unit="count")
    no_verdict: int = metric(0, unit="count")
    reference_rows: int = metric(0, unit="count")
    current_rows: int = metric(0, unit="count")
    multivariate_p: float | None = metric(unit="p-value")
    multivariate_auc: float | None = metric(unit="ratio")
    alpha: float = metric(0.05, unit="ratio")
    reference: str = detail("")
    current: str = detail("")
    engine: str = detail("memory")
    source: str = detail("batch")  # "batch" | "stream" (a live detector's alarm)
    results: tuple[Mapping[str, Any], ...] = detail(factory=tuple)
    multivariate: Mapping[str, Any] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class PerformanceReport(_CP9):
    """``cpmap monitor performance``: labelled windows against the validation figures, or a
    label-free estimate (``estimated``)."""

    kind: ClassVar[str] = "performance"
    windows: int = metric(0, unit="count")
    labelled: int = metric(0, unit="count")
    accuracy: float | None = metric(unit="ratio")
    macro_f1: float | None = metric(unit="ratio")
    baseline_accuracy: float | None = metric(unit="ratio")
    dropped_windows: int = metric(0, unit="count")
    estimated: bool = metric(False)
    baseline: str = detail("")
    rows: tuple[Mapping[str, Any], ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class GoldenRun(_CP9):
    """``cpmap monitor golden run``: the version re-validated on a signed golden dataset."""

    kind: ClassVar[str] = "golden-run"
    rows: int = metric(0, unit="count")
    accuracy: float | None = metric(unit="ratio")
    accuracy_lower: float | None = metric(unit="ratio")
    macro_f1: float | None = metric(unit="ratio")
    reference_accuracy: float | None = metric(unit="ratio")
    max_drop: float = metric(0.05, unit="ratio")
    golden: str = detail("")
    per_class_recall: Mapping[str, float] = detail(factory=dict)
    predictions_digest: str = detail("")


@dataclass(frozen=True, kw_only=True)
class PoisoningReport(_CP9):
    """``cpmap monitor poisoning``: every round against the fixed training anchor (CUSUM),
    label disagreement by class, decision-boundary shift between versions."""

    kind: ClassVar[str] = "poisoning"
    rounds: int = metric(0, unit="count")
    flagged_rounds: int = metric(0, unit="count")
    step_flags: int = metric(0, unit="count")
    max_label_cusum: float | None = metric()
    max_feature_cusum: float | None = metric()
    boundary_shift: float | None = metric(unit="ratio")
    anchor: str = detail("")
    per_round: tuple[Mapping[str, Any], ...] = detail(factory=tuple)
    disagreement: Mapping[str, Any] = detail(factory=dict)


KINDS = (DriftReport, PerformanceReport, GoldenRun, PoisoningReport)
