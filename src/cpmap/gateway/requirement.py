"""CP7's gate requirement: a passing ``cpmap gateway check`` of this version, served.

``required_for = ["production"]`` by default: staging and canary serve on CP1-CP6 alone, so
the realistic flow is a staging deploy, ``cpmap gateway check`` against it, then promotion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.core.findings import Verdict
from cpmap.gate.kit import Item, Reason, latest, no_evidence
from cpmap.gateway.predicates import GatewayCheck

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.gateway.control import CP7Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP7Rule) -> list[Reason]:
    found = latest(items, GatewayCheck, lambda i, _: i.about(scope.model))
    if found is None:
        return [no_evidence("no `cpmap gateway check` of this version served (in staging)")]
    item, check = found
    if check.verdict is not Verdict.PASS and check.failed > rule.max_failed_checks:
        names = [str(r.get("check")) for r in check.results if not r.get("ok")]
        return [Reason(f"gateway check #{item.index}: {check.failed} attack(s) got through "
                       f"({', '.join(names[:5])}); at most {rule.max_failed_checks} allowed")]
    return []
