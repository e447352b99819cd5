"""CP4 adversarial robustness, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import CliCommand, CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.robustness.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP4Rule(Rule):
    """Robust accuracy under `attack` at `eps` (and clean accuracy) from a robustness evaluation."""

    required: bool = True
    attack: str = "pgd"
    eps: float = 0.15
    min_robust_accuracy: float = 0.4
    min_clean_accuracy: float = 0.8


CONTROL = ControlPoint(
    "CP4", 2, "Adversarial robustness training",
    "FGSM/PGD/APGD attacks, adversarial training, robustness curves.",
    Gate(CP4Rule, "cpmap.robustness.requirement:requirement",
         failed_evidence=FailedEvidence.IGNORE, tags=(Atlas.T0043,)),
    commands=("cpmap train", "cpmap robustness", "cpmap models"),
    evidence=KINDS,
    tables=("cpmap.models.tables",),
    cli=(CliGroup("models", "cpmap.cli.models",
                  "Stored models: list, show, add safely, trust a pickle."),
         CliGroup("robustness", "cpmap.cli.robustness", "CP4: robustness evaluation under attack."),
         CliCommand("train", "cpmap.cli.train", "train")),
    stages=(Stage("Adversarial robustness", "cpmap.lifecycle.stages.cp4:run"),),
    config=("models", "robustness"),
)
