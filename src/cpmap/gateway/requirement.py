"""CP7's gate requirement, for the lead to wire into the gate (``REQUIREMENTS["CP7"]``).

A version passes CP7 when its latest ``gateway-check`` evidence passed with at most
``max_failed_checks`` failures. ``required_for_stages`` (default production) says which
promotions need it: staging and canary serve on CP1-CP6 alone, so that the realistic flow is
staging deploy, ``cpmap gateway check``, promote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cpmap.gate.evidence import Item
from cpmap.gate.requirements import Reason, latest, no_evidence
from cpmap.gate.scope import Scope


def cp7(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    check = latest(items, lambda i: i.kind == "gateway-check" and i.about(scope.model))
    if check is None:
        return [no_evidence("no `cpmap gateway check` of this version served (in staging)")]
    failed = int(check.metrics.get("failed", 0) or 0)
    allowed = int(rule.get("max_failed_checks", 0))
    if check.verdict != "pass" and failed > allowed:
        names = [str(r.get("check")) for r in check.details.get("results") or []
                 if isinstance(r, Mapping) and not r.get("ok")]
        return [Reason(f"gateway check #{check.index}: {failed} attack(s) got through "
                       f"({', '.join(names[:5])}); at most {allowed} allowed")]
    return []
