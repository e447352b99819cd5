"""CP5 AI penetration testing, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpmap.core.control import CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.findings import SeverityFloor
from cpmap.core.tags import Atlas
from cpmap.redteam.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP5Rule(Rule):
    """Membership-inference TPR at 0.1% FPR at most this, and no open finding at or above
    fail_severity from red-team campaigns."""

    required: bool = True
    max_membership_tpr_at_0_1pct_fpr: float = field(
        default=0.05, metadata={"key": "max_membership_tpr_at_0.1pct_fpr"})
    fail_severity: SeverityFloor = SeverityFloor.HIGH


CONTROL = ControlPoint(
    "CP5", 3, "AI penetration testing",
    "Red-team campaigns: fuzzing, evasion, extraction, membership, inversion.",
    Gate(CP5Rule, "cpmap.redteam.requirement:requirement",
         failed_evidence=FailedEvidence.IGNORE, tags=(Atlas.T0024,)),
    commands=("cpmap redteam",),
    evidence=KINDS,
    tables=("cpmap.redteam.tables",),
    cli=(CliGroup("redteam", "cpmap.cli.redteam",
                  "CP5: red-team campaigns and tracked findings."),),
    stages=(Stage("AI penetration testing", "cpmap.lifecycle.stages.cp5:run"),),
    config=("redteam",),
)
