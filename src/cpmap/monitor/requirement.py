"""CP8's gate requirement: a current input baseline about this version.

Production serves with monitoring on, and the gateway refuses a baseline that is not about the
version it serves; so promotion to production (``required_for``) asks for one before the
version gets there. "Current": the latest baseline about the digest, built on data in the
version's own lineage, no older than ``max_baseline_age_days``, calibrated to a target
false-alarm rate no looser than ``max_target_fpr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cpmap.gate.kit import Item, Reason, latest, no_evidence
from cpmap.monitor.predicates import MonitorBaseline

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.monitor.control import CP8Rule


def _age_days(created_at: str) -> float:
    try:
        when = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds() / 86400


def requirement(items: Sequence[Item], scope: Scope, rule: CP8Rule) -> list[Reason]:
    found = latest(items, MonitorBaseline, lambda i, _: i.about(scope.model))
    if found is None:
        return [no_evidence("no input baseline of this version (`cpmap monitor baseline`)")]
    item, base = found
    reasons = []
    data = {str(d.get("digest")) for d in base.datasets}
    if scope.datasets and not data & set(scope.datasets):
        reasons.append(Reason(f"baseline #{item.index} was not built on this version's "
                              "training data (its lineage)"))
    age = _age_days(item.created_at)
    if age > rule.max_baseline_age_days:
        reasons.append(Reason(f"baseline #{item.index} is {age:.0f} days old; at most "
                              f"{rule.max_baseline_age_days} allowed"))
    if base.target_fpr > rule.max_target_fpr:
        reasons.append(Reason(f"baseline #{item.index} targets a {base.target_fpr:.1%} false-"
                              f"alarm rate; at most {rule.max_target_fpr:.1%} allowed"))
    return reasons
