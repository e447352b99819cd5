"""CP4's gate requirement: robust accuracy under the policy's attack at the policy's eps (or a
stronger one), and clean accuracy, from the latest evaluation that ran that attack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.gate.kit import Item, Reason, latest, no_evidence
from cpmap.robustness.predicates import RobustnessEvaluation

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.robustness.control import CP4Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP4Rule) -> list[Reason]:
    found = latest(items, RobustnessEvaluation,
                   lambda _, p: bool(p.at_least(rule.attack, rule.eps)))
    if found is None:
        return [no_evidence(f"no {rule.attack} robustness evaluation of this model at eps >= "
                            f"{rule.eps:g} (cpmap robustness evaluate)")]
    item, ev = found
    result = min(ev.at_least(rule.attack, rule.eps), key=lambda r: r.eps)
    reasons = []
    robust = result.robust_accuracy if isinstance(result.robust_accuracy, float) else None
    if robust is None or robust < rule.min_robust_accuracy:
        reasons.append(Reason(f"robust accuracy under {rule.attack} at eps {result.eps:g} "
                              f"is {robust if robust is not None else 'unknown'}, below "
                              f"{rule.min_robust_accuracy} (evidence #{item.index})"))
    clean = ev.clean_accuracy
    if clean is not None and clean < rule.min_clean_accuracy:
        reasons.append(Reason(f"clean accuracy {clean:.4g} below {rule.min_clean_accuracy} "
                              f"(evidence #{item.index})"))
    return reasons
