"""CP1's gate requirement: the training data is registered, trusted, intact and signed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.core.findings import Verdict
from cpmap.gate.kit import Item, Reason, latest_about, no_evidence, of_kind
from cpmap.provenance.predicates import (
    DatasetAccess,
    DatasetRegistration,
    DataSignature,
    DataVerification,
)

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.provenance.control import CP1Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP1Rule) -> list[Reason]:
    if not scope.datasets:
        return [no_evidence("no training dataset in the model's lineage (register the model "
                            "with --dataset, or train it with `cpmap train`)")]
    reasons: list[Reason] = []
    for d in scope.datasets:
        reasons += _dataset(items, scope, d, rule)
    return reasons


def _dataset(items: Sequence[Item], scope: Scope, digest: str, rule: CP1Rule) -> list[Reason]:
    name = scope.name(digest)
    chain = scope.ancestors(digest)
    mine = [i for i in items if i.about(chain)]
    registrations = of_kind(mine, DatasetRegistration)
    if not any(i.about([digest]) for i, _ in registrations):
        return [no_evidence(f"training data {name} is not registered with CP1")]
    reasons: list[Reason] = []
    if not rule.allow_untrusted_sources:
        reasons = [Reason(f"{scope.name(_first(i, chain))}: registered from an untrusted "
                          f"source (evidence #{i.index})") for i, p in registrations
                   if p.untrusted > 0]
    for d in chain:
        access = latest_about(mine, d, DatasetAccess)
        if access is not None and access[1].verdict is Verdict.FAIL:
            reasons.append(Reason(f"{scope.name(d)}: integrity check failed on last access "
                                  f"(evidence #{access[0].index})"))
    if rule.signed and not any(_signed(i) for i in mine):
        reasons.append(Reason(f"{name}: neither it nor an ancestor carries a verified signature "
                              "(supplier attestation or `cpmap data sign`/`verify`)"))
    return reasons


def _first(item: Item, digests: Sequence[str]) -> str:
    return next((d for d in digests if d in item.subjects), digests[0])


def _signed(i: Item) -> bool:
    p = i.predicate
    if p.verdict is not Verdict.PASS:
        return False
    return isinstance(p, DataSignature | DataVerification) or (
        isinstance(p, DatasetRegistration) and bool(p.supplier))
