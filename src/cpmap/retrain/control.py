"""CP10 secure retraining & feedback loop, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import (
    About,
    CliCommand,
    CliGroup,
    ControlPoint,
    FailedEvidence,
    Gate,
    Rule,
    Stage,
)
from cpmap.core.tags import Atlas
from cpmap.retrain.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP10Rule(Rule):
    """New data a retrained version learned from passed the CP1/CP2/poisoning intake checks."""

    required: bool = False
    max_refused_in_lineage: int = 0


CONTROL = ControlPoint(
    "CP10", 5, "Secure retraining & feedback loop",
    "Retraining triggered by CP9 alerts or a schedule, new data re-checked by CP1/CP2 and a "
    "poisoning check, a human review queue, re-gated candidates, canary with rollback.",
    Gate(CP10Rule, "cpmap.retrain.requirement:requirement", about=About.DATA,
         failed_evidence=FailedEvidence.IGNORE, tags=(Atlas.T0020,)),
    commands=("cpmap retrain", "cpmap watch", "cpmap rollout", "cpmap review"),
    evidence=KINDS,
    tables=("cpmap.retrain.tables", "cpmap.review.tables"),
    cli=(CliCommand("retrain", "cpmap.cli.retrain", "retrain"),
         CliCommand("watch", "cpmap.cli.retrain", "watch"),
         CliGroup("rollout", "cpmap.cli.rollout", "CP10: canary status, promote, abort."),
         CliGroup("review", "cpmap.cli.review",
                  "CP10: the human review queue (accounts, web app, export).")),
    stages=(Stage("Secure retraining & feedback loop", "cpmap.lifecycle.stages.cp10:run"),),
    config=("retraining", "review"),
)
