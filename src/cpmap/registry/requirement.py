"""CP6's gate requirement: the version's registration is in the ledger and its model card has
the fields the policy asks for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cpmap.gate.kit import Item, Reason, latest, no_evidence
from cpmap.registry.predicates import ModelCard, RegistryVersion

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope
    from cpmap.registry.control import CP6Rule


def requirement(items: Sequence[Item], scope: Scope, rule: CP6Rule) -> list[Reason]:
    reasons = []
    if latest(items, RegistryVersion) is None:
        reasons.append(no_evidence("the version's registration is not in the ledger"))
    card = latest(items, ModelCard)
    if card is None:
        return [*reasons, no_evidence("no model card (cpmap registry card NAME@VERSION)")]
    missing = [f for f in rule.card_fields if f not in set(card[1].filled)]
    if missing:
        reasons.append(Reason(f"model card lacks {', '.join(missing)} "
                              f"(evidence #{card[0].index})"))
    return reasons
