"""CP3's gate requirement: no severe finding in the latest scan of each kind, no secrets, and
model files the scanner calls safe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.core.findings import Verdict
from cpmap.gate.kit import Item, Reason, at_or_above, latest, no_evidence
from cpmap.supplychain.predicates import ModelScan, SecretsFound

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.supplychain.control import CP3Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP3Rule) -> list[Reason]:
    if not items:
        return [no_evidence("no CP3 scan of this model's files or build environment")]
    reasons = []
    for kind in dict.fromkeys(i.kind for i in items):
        reasons += _latest_of_kind([i for i in items if i.kind == kind][-1], rule)
    if rule.model_files == "safe":
        reasons += _model_files(items, scope)
    return reasons


def _latest_of_kind(last: Item, rule: CP3Rule) -> list[Reason]:
    reasons = []
    secret_scan = isinstance(last.predicate, SecretsFound)
    secrets = [f for f in last.findings if secret_scan or "SECRET" in f.rule_id]
    if len(secrets) > rule.max_secrets:
        reasons.append(Reason(f"{len(secrets)} secret(s) found by {last.kind} "
                              f"(evidence #{last.index})"))
    severe = [f for f in at_or_above(last.findings, rule.fail_severity) if f not in secrets]
    if severe:
        reasons.append(Reason(f"{len(severe)} finding(s) at or above {rule.fail_severity} in "
                              f"{last.kind} (evidence #{last.index}): "
                              + "; ".join(f.message[:80] for f in severe[:3])))
    return reasons


def _model_files(items: Sequence[Item], scope: Scope) -> list[Reason]:
    scan = latest(items, ModelScan, lambda i, _: i.about(scope.model))
    if scan is None:
        return [no_evidence("no model-file scan of this model's files (cpmap scan model)")]
    item, found = scan
    worst = found.worst if found.files else (
        "safe" if found.verdict is Verdict.PASS else found.verdict.value)
    if worst != "safe":
        return [Reason(f"model files are {worst}, not safe (evidence #{item.index})")]
    return []
