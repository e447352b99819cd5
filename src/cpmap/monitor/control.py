"""CP8 real-time input/output monitoring, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.gateway.predicates import ALERTS as GATEWAY_ALERTS
from cpmap.monitor.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP8Rule(Rule):
    """A current input baseline about the version (`cpmap monitor baseline`) before
    production: the gateway can only score inputs against a baseline of what it serves."""

    required: bool = False
    required_for: tuple[str, ...] = ("production",)
    max_baseline_age_days: int = 365
    max_target_fpr: float = 0.05


CONTROL = ControlPoint(
    "CP8", 4, "Real-time input/output monitoring",
    "Input baselines from the lineage's training data, per-request OOD scores and "
    "confidence in a tamper-evident log, sustained low-confidence / OOD alerts, probing "
    "detection per client, output filters.",
    Gate(CP8Rule, "cpmap.monitor.requirement:requirement",
         failed_evidence=FailedEvidence.IGNORE,
         tags=(Atlas.T0015, Atlas.T0024_002, Atlas.T0024_000, Atlas.T0034)),
    commands=("cpmap monitor baseline", "cpmap monitor log", "cpmap monitor status",
              "cpmap monitor alerts"),
    evidence=(*KINDS, *GATEWAY_ALERTS),
    tables=("cpmap.monitor.tables",),
    cli=(CliGroup("monitor", "cpmap.cli.monitor_live",
                  "CP8: baselines, the monitored prediction log, status and alerts."),),
    stages=(Stage("Real-time monitoring (gateway)", "cpmap.lifecycle.stages.cp8:run"),),
    config=("monitoring",),
)
