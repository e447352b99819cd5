"""CP6 model governance & versioning, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import CliCommand, CliGroup, ControlPoint, Gate, Rule, Stage
from cpmap.registry.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP6Rule(Rule):
    """A model card with these fields filled in (`cpmap registry card`)."""

    required: bool = True
    card_fields: tuple[str, ...] = ("intended_use", "limitations")


CONTROL = ControlPoint(
    "CP6", 3, "Model governance & versioning",
    "Signed registry, model cards, the gate, promotion and rollback.",
    Gate(CP6Rule, "cpmap.registry.requirement:requirement"),
    commands=("cpmap registry", "cpmap gate", "cpmap report"),
    evidence=KINDS,
    tables=("cpmap.registry.tables",),
    cli=(CliGroup("registry", "cpmap.cli.registry",
                  "CP6: model versions, cards, aliases, promotion, rollback."),
         CliCommand("gate", "cpmap.cli.gate", "gate")),
    stages=(Stage("Model governance", "cpmap.lifecycle.stages.cp6:run"),),
)
