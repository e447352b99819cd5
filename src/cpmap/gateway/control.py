"""CP7 secure API endpoint & input validation, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import CliCommand, CliGroup, ControlPoint, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.gateway.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP7Rule(Rule):
    """A passing `cpmap gateway check` of the version served in staging, before production."""

    required: bool = False
    required_for: tuple[str, ...] = ("production",)
    max_failed_checks: int = 0


CONTROL = ControlPoint(
    "CP7", 4, "Secure API endpoint & input validation",
    "Inference gateway serving only gated versions: API keys, rate limits, query budgets "
    "from CP5, strict input and file validation, hardened outputs, a signed prediction log.",
    Gate(CP7Rule, "cpmap.gateway.requirement:requirement", tags=(Atlas.T0049, Atlas.T0024_002)),
    commands=("cpmap serve", "cpmap gateway"),
    evidence=KINDS,
    tables=("cpmap.gateway.tables",),
    cli=(CliGroup("gateway", "cpmap.cli.gateway",
                  "CP7: API keys, gateway attacks, prediction log."),
         CliCommand("serve", "cpmap.cli.serve", "serve")),
    stages=(Stage("Secure API endpoint (gateway)", "cpmap.lifecycle.stages.cp7:run"),),
    config=("gateway",),
)
