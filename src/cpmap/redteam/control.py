"""CP5 AI penetration testing, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpmap.core.control import CliGroup, ControlPoint, FailedEvidence, Gate, Rule, Stage
from cpmap.core.findings import SeverityFloor
from cpmap.core.tags import Atlas
from cpmap.redteam.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP5Rule(Rule):
    """Membership-inference TPR at membership_fpr (upper 95% confidence bound) at most
    max_membership_tpr_at_0.1pct_fpr, and no open finding at or above fail_severity from
    red-team campaigns. A campaign with fewer than 1/membership_fpr non-members fails: it
    cannot test that FPR."""

    required: bool = True
    max_membership_tpr_at_0_1pct_fpr: float = field(
        default=0.05, metadata={"key": "max_membership_tpr_at_0.1pct_fpr",
                                "doc": "the largest TPR allowed at membership_fpr"})
    membership_fpr: float = field(default=0.001, metadata={
        "doc": "FPR the membership TPR is tested at: 0.001 or 0.01 (0.001 needs >= 1000 "
               "non-members)"})
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
