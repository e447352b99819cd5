"""CP2's gate requirement, judged on the training data itself: a raw ancestor holding PII is
what a recorded redaction is for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.gate.kit import Item, Reason, latest, latest_about, no_evidence
from cpmap.privacy.predicates import AnonymityAssessment, PiiRedaction, PiiScan

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.privacy.control import CP2Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP2Rule) -> list[Reason]:
    reasons = []
    for d in scope.datasets:
        reasons += _dataset(items, scope.name(d), d, rule)
    if not any(i.about(scope.datasets) for i in items):
        reasons.append(no_evidence("no CP2 privacy evidence about the training data"))
    return reasons


def _dataset(items: Sequence[Item], name: str, d: str, rule: CP2Rule) -> list[Reason]:
    reasons = []
    scan = latest_about(items, d, PiiScan)
    if scan is not None and scan[1].pii_count > rule.max_pii_findings:
        reasons.append(Reason(f"{name}: {scan[1].pii_count} unredacted PII column(s)/hit(s) "
                              f"(evidence #{scan[0].index}, at most {rule.max_pii_findings} "
                              "allowed)"))
    # a redaction's first subject is its output: the dataset it vouches for
    red = latest(items, PiiRedaction, lambda i, _: next(iter(i.subjects), "") == d)
    if red is not None and red[1].rescan_direct_identifiers:
        reasons.append(Reason(f"{name}: {red[1].rescan_direct_identifiers:g} direct "
                              f"identifier(s) left after redaction (evidence #{red[0].index})"))
    anon = latest(items, AnonymityAssessment,
                  lambda i, p: d in i.subjects and p.k is not None)
    if anon is not None and anon[1].k is not None and anon[1].k < rule.min_k:
        reasons.append(Reason(f"{name}: k-anonymity k={anon[1].k:g} below {rule.min_k} "
                              f"(evidence #{anon[0].index})"))
    return reasons
