"""CP5's gate requirement: membership leakage within the policy, and no open red-team finding at
or above the policy's severity (accepted risks and remediated findings do not block)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.core.findings import Finding
from cpmap.gate.kit import Item, Reason, at_or_above, latest, no_evidence
from cpmap.redteam.predicates import RedteamAcceptance, RedteamCampaign

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.redteam.control import CP5Rule

CLOSED = frozenset({"remediated", "accepted", "closed", "fixed"})


def requirement(items: Sequence[Item], scope: Scope, rule: CP5Rule) -> list[Reason]:
    if not items:
        return [no_evidence("no red-team campaign on this model (cpmap redteam run)")]
    reasons = []
    limit = rule.max_membership_tpr_at_0_1pct_fpr
    mia = latest(items, RedteamCampaign, lambda _, p: p.membership_tpr_at_0_1pct_fpr is not None)
    if mia is None:
        reasons.append(no_evidence("no membership-inference result for this model"))
    else:
        tpr = mia[1].membership_tpr_at_0_1pct_fpr
        if tpr is not None and tpr > limit:
            reasons.append(Reason(f"membership-inference TPR at 0.1% FPR is {tpr:.4g}, above "
                                  f"{limit:g} (evidence #{mia[0].index})"))
    live = open_findings(items)
    severe = at_or_above([f for f, _ in live], rule.fail_severity)
    if severe:
        where = sorted({i for f, i in live if f in severe})
        reasons.append(Reason(f"{len(severe)} open finding(s) at or above {rule.fail_severity} "
                              "(evidence " + ", ".join(f"#{i}" for i in where) + "): "
                              + "; ".join(f.rule_id for f in severe[:5])))
    return reasons


def finding_key(f: Finding) -> str:
    fid = f.properties.get("id")
    return str(fid or f"{f.rule_id}:{f.message}")


def is_open(f: Finding) -> bool:
    return str(f.properties.get("status", "open")) not in CLOSED


def open_findings(items: Sequence[Item]) -> list[tuple[Finding, int]]:
    """Findings still open across every campaign about the model, with the entry that last
    reported each: findings persist until a later campaign reports them remediated or a
    recorded acceptance (``redteam-acceptance``) accepts their risk."""
    status: dict[str, str] = {}
    last: dict[str, tuple[Finding, int]] = {}
    for i in items:
        if isinstance(i.predicate, RedteamAcceptance) and i.predicate.finding:
            status[i.predicate.finding] = "accepted"
        for f in i.findings:
            key = finding_key(f)
            status[key] = "open" if is_open(f) else "closed"
            last[key] = (f, i.index)
    return [last[k] for k, st in status.items() if st == "open" and k in last]
