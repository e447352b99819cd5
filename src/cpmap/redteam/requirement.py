"""CP5's gate requirement: membership leakage within the policy, and no open red-team finding at
or above the policy's severity (accepted risks and remediated findings do not block).

Leakage is judged on the upper 95% confidence bound of TPR at the policy's FPR, not the point
estimate: 0 of 180 members is consistent with a TPR of 2%. A campaign with fewer than 1/FPR
non-members cannot test that FPR at all; the gate says so instead of passing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.core.findings import Finding
from cpmap.gate.kit import Item, Reason, at_or_above, latest, no_evidence
from cpmap.redteam.predicates import RedteamAcceptance, RedteamCampaign
from cpmap.redteam.stats import estimable, needed

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.redteam.control import CP5Rule

CLOSED = frozenset({"remediated", "accepted", "closed", "fixed"})


def _measured(p: RedteamCampaign) -> bool:
    return p.membership_auc is not None and p.membership_nonmembers is not None


def membership(items: Sequence[Item], rule: CP5Rule) -> list[Reason]:
    mia = latest(items, RedteamCampaign, lambda _, p: _measured(p))
    if mia is None:
        return [no_evidence("no membership-inference result with counts for this model")]
    item, p = mia
    fpr, limit, n = rule.membership_fpr, rule.max_membership_tpr_at_0_1pct_fpr, \
        int(p.membership_nonmembers or 0)
    at = f"{fpr * 100:g}% FPR"
    if not estimable(fpr, n):
        return [Reason(f"not enough non-members to test at this FPR: membership inference at "
                       f"{at} needs at least {needed(fpr)} non-members, the campaign had {n} "
                       f"(evidence #{item.index})")]
    point, upper = {0.001: (p.membership_tpr_at_0_1pct_fpr,
                            p.membership_tpr_at_0_1pct_fpr_upper),
                    0.01: (p.membership_tpr_at_1pct_fpr, p.membership_tpr_at_1pct_fpr_upper)
                    }.get(round(fpr, 6), (None, None))
    if upper is None:
        return [no_evidence(f"no membership TPR at {at} in evidence #{item.index} (the "
                            "campaign reports 0.1% and 1%)")]
    if upper > limit:
        shown = f"{point:.4g}" if point is not None else "unknown"
        return [Reason(f"membership-inference TPR at {at} is {shown}: its upper 95% confidence "
                       f"bound {upper:.4g} ({p.membership_members} members, {n} non-members) "
                       f"is above {limit:g} (evidence #{item.index})")]
    return []


def requirement(items: Sequence[Item], scope: Scope, rule: CP5Rule) -> list[Reason]:
    if not items:
        return [no_evidence("no red-team campaign on this model (cpmap redteam run)")]
    reasons = membership(items, rule)
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
