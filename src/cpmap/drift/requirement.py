"""CP9's gate requirement: a passing golden-set run of this version, not older than
``max_age_days``. A version whose latest golden run failed is blocked, however old the passing
one before it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cpmap.core.findings import Verdict
from cpmap.drift.predicates import GoldenRun
from cpmap.gate.kit import Item, Reason, latest, no_evidence

if TYPE_CHECKING:
    from cpmap.drift.control import CP9Rule
    from cpmap.gate.scope import Scope


def _age_days(created_at: str, now: datetime | None = None) -> float:
    try:
        when = datetime.fromisoformat(created_at)
    except ValueError:
        return float("inf")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - when).total_seconds() / 86400


def requirement(items: Sequence[Item], scope: Scope, rule: CP9Rule) -> list[Reason]:
    found = latest(items, GoldenRun, lambda i, _: i.about(scope.model))
    if found is None:
        return [no_evidence("no golden-set run of this version (`cpmap monitor golden run`)")]
    item, run = found
    if run.verdict is not Verdict.PASS:
        why = "; ".join(f.message for f in run.findings[:2]) or "failed"
        return [Reason(f"golden-set run #{item.index} on {run.golden or 'the golden set'} "
                       f"failed: {why}")]
    age = _age_days(item.created_at)
    if age > rule.max_age_days:
        return [Reason(f"golden-set run #{item.index} is {age:.1f} days old; the policy "
                       f"allows {rule.max_age_days} (run `cpmap monitor golden run` again)")]
    if rule.min_golden_rows and run.rows < rule.min_golden_rows:
        return [Reason(f"golden-set run #{item.index} used {run.rows} rows; the policy needs "
                       f"{rule.min_golden_rows}")]
    return []
