"""CP4 adversarial robustness, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpmap.core.control import CliCommand, CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.robustness.predicates import ENSEMBLE, KINDS


@dataclass(frozen=True, kw_only=True)
class CP4Rule(Rule):
    """Robust accuracy at `eps` (and clean accuracy) from a robustness evaluation: by default
    the per-example worst case over the whole `ensemble` (a row is robust only if every attack
    failed on it). A gradient-masking finding (CP4-MASK-*) in that evaluation fails the
    requirement unless a person accepted it with a reason (robustness-masking-acceptance)."""

    required: bool = True
    attack: str = field(default="ensemble", metadata={
        "doc": "ensemble: per-example worst case over `ensemble`; or one attack's accuracy"})
    ensemble: tuple[str, ...] = ENSEMBLE
    eps: float = 0.15
    min_robust_accuracy: float = 0.4
    min_clean_accuracy: float = 0.8


CONTROL = ControlPoint(
    "CP4", 2, "Adversarial robustness training",
    "FGSM/PGD/APGD/APGD-T/Square attacks, adversarial training, robustness curves.",
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
