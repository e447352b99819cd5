"""CP10's gate requirement: no batch the intake refused is in a version's training lineage.

Items are CP10 evidence about the version's data lineage (the merged training set and its
parents, the intake batches among them). A refused batch cannot reach training through
:mod:`cpmap.retrain.pipeline`; this requirement is what stops one that reached it another way
(a hand-made dataset with the refused batch as a parent). A version with no CP10 evidence in
its lineage was not retrained by CP10 and is not judged here (the control is not required).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.gate.kit import Item, Reason, of_kind
from cpmap.retrain.predicates import IntakeCheck

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.retrain.control import CP10Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP10Rule) -> list[Reason]:
    refused = [(i, p) for i, p in of_kind(items, IntakeCheck) if not p.accepted]
    if len(refused) <= rule.max_refused_in_lineage:
        return []
    shown = "; ".join(f"#{i.index} {p.batch}: {p.refused_by} ({p.reason})" for i, p in refused[:3])
    return [Reason(f"{len(refused)} batch(es) refused by the CP10 intake are in the training "
                   f"lineage: {shown}; at most {rule.max_refused_in_lineage} allowed")]
