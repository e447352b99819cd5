"""CP4's gate requirement: robust accuracy at the policy's eps (or a stronger one) from the
latest evaluation that ran what the policy names, clean accuracy, and no unaccepted
gradient-masking finding.

By default the robust accuracy is the per-example worst case over the whole ensemble (APGD-CE,
APGD-T, the margin attack, Square): the minimum of each attack's accuracy, or one attack alone,
overstated it by up to 13 points against AutoAttack. A masking finding means the figures
themselves may be wrong, so it fails the requirement until a person accepts it with a reason
(``robustness-masking-acceptance`` evidence about the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.core.findings import Finding
from cpmap.gate.kit import Item, Reason, latest, no_evidence, of_kind
from cpmap.robustness.predicates import MaskingAcceptance, ModelTraining, RobustnessEvaluation

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.robustness.control import CP4Rule


def _robust(ev: RobustnessEvaluation, rule: CP4Rule) -> tuple[float, float | None, str] | None:
    """(eps, robust accuracy, what it is) at the policy eps or stronger, if measured."""
    if rule.attack == "ensemble":
        worst = ev.worst_at_least(rule.eps, rule.ensemble)
        if not worst:
            return None
        eps, value = worst[0]
        return eps, value, ("per-example worst case over " + ", ".join(
            sorted(ev.attacks_at(eps) - {"pgd-l2"})))
    rows = ev.at_least(rule.attack, rule.eps)
    if not rows:
        return None
    r = min(rows, key=lambda r: r.eps)
    value = r.robust_accuracy if isinstance(r.robust_accuracy, float) else None
    return r.eps, value, rule.attack


def _unsafe_dp(items: Sequence[Item], scope: Scope) -> list[Reason]:
    """A DP-SGD model trained with replayable noise claims a guarantee it does not have."""
    model = getattr(scope, "model", None)  # None: every item is about the model
    trained = latest(items, ModelTraining, lambda i, _: model is None or i.about(model))
    if trained is None or not trained[1].unsafe_reproducible_dp:
        return []
    return [Reason(f"DP-SGD noise and sampling were drawn from the recorded seed (evidence "
                   f"#{trained[0].index}, --unsafe-reproducible-dp): anyone with the record can "
                   "replay training and test membership; retrain without the flag")]


def requirement(items: Sequence[Item], scope: Scope, rule: CP4Rule) -> list[Reason]:
    unsafe = _unsafe_dp(items, scope)
    found = latest(items, RobustnessEvaluation, lambda _, p: _robust(p, rule) is not None)
    if found is None:
        what = ("the full ensemble (" + ", ".join(rule.ensemble) + ")"
                if rule.attack == "ensemble" else rule.attack)
        return [*unsafe, no_evidence(f"no robustness evaluation of this model with {what} at "
                                     f"eps >= {rule.eps:g} (cpmap robustness evaluate)")]
    item, ev = found
    measured = _robust(ev, rule)
    assert measured is not None  # noqa: S101 - selected above
    eps, robust, what = measured
    reasons = list(unsafe)
    if robust is None or robust < rule.min_robust_accuracy:
        shown = f"{robust:.4g}" if robust is not None else "unknown"
        reasons.append(Reason(f"robust accuracy ({what}) at eps {eps:g} is {shown}, below "
                              f"{rule.min_robust_accuracy} (evidence #{item.index})"))
    clean = ev.clean_accuracy
    if clean is not None and clean < rule.min_clean_accuracy:
        reasons.append(Reason(f"clean accuracy {clean:.4g} below {rule.min_clean_accuracy} "
                              f"(evidence #{item.index})"))
    accepted = [p for _, p in of_kind(items, MaskingAcceptance)]
    reasons += [Reason(f"gradient masking: {f.rule_id}: {f.message} (evidence #{item.index}; "
                       "accept it with a reason: cpmap robustness accept-masking)")
                for f in ev.findings
                if f.rule_id.startswith("CP4-MASK") and not _accepted(f, item.index, accepted)]
    return reasons


def _accepted(f: Finding, entry: int, acceptances: Sequence[MaskingAcceptance]) -> bool:
    eps = f.properties.get("eps")
    return any(a.rule_id == f.rule_id and a.reason.strip()
               and (a.evaluation is None or a.evaluation == entry)
               and (a.eps is None or not isinstance(eps, int | float)
                    or abs(float(eps) - a.eps) < 1e-9)
               for a in acceptances)
