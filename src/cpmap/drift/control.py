"""CP9 drift & performance monitoring, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpmap.core.control import CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.drift.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP9Rule(Rule):
    """A passing golden-set run of the version (`cpmap monitor golden run`), recent enough.

    Required for production by default: promotion to production waits for a passing golden-set
    run of the version not older than max_age_days. required_for = [] relaxes it (staging and
    canary never need it); required = true asks for it at every gate evaluation.
    """

    required: bool = False
    required_for: tuple[str, ...] = ("production",)
    max_age_days: float = field(default=7.0, metadata={
        "doc": "a golden-set run older than this (days) no longer counts"})
    min_golden_rows: int = field(default=0, metadata={
        "doc": "the golden set must hold at least this many rows (0: any)"})


CONTROL = ControlPoint(
    "CP9", 5, "Drift & performance monitoring",
    "Per-feature drift tests with effect sizes and BH correction, a multivariate test, "
    "performance per window against validation figures, golden-set re-validation, slow-"
    "poisoning detection against the training anchor; batch, streaming and Dask.",
    # Failing drift, performance or poisoning evidence alerts and triggers retraining (CP10);
    # it does not stop the version being served. Only the requirement (the golden set) gates.
    Gate(CP9Rule, "cpmap.drift.requirement:requirement", failed_evidence=FailedEvidence.IGNORE,
         tags=(Atlas.T0031, Atlas.T0020)),
    commands=("cpmap monitor drift", "cpmap monitor performance", "cpmap monitor golden",
              "cpmap monitor poisoning"),
    evidence=KINDS,
    cli=(CliGroup("monitor", "cpmap.cli.monitor_drift",
                  "CP9: drift, performance, golden sets, slow poisoning."),),
    stages=(Stage("Drift & performance monitoring", "cpmap.lifecycle.stages.cp9:run"),),
    config=("drift", "golden"),
)
