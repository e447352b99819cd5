"""CP2 privacy & anonymization, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import About, CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.privacy.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP2Rule(Rule):
    """Set required = true when training data can hold personal data (the demo digits cannot)."""

    required: bool = False
    max_pii_findings: int = 0
    min_k: int = 5


CONTROL = ControlPoint(
    "CP2", 1, "Privacy & anonymization",
    "PII scan and redaction, k-anonymity, differential privacy, synthetic data.",
    Gate(CP2Rule, "cpmap.privacy.requirement:requirement", About.DATA,
         FailedEvidence.TRAINING_DATA, tags=(Atlas.T0057,)),
    commands=("cpmap privacy",),
    evidence=KINDS,
    tables=("cpmap.privacy.tables",),
    cli=(CliGroup("privacy", "cpmap.cli.privacy",
                  "CP2: PII scan/redact, k-anonymity, DP, synthetic data."),),
    stages=(Stage("Data privacy & anonymization", "cpmap.lifecycle.stages.cp2:run"),),
    config=("privacy",),
)
