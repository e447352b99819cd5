"""Review decisions as the signed ledger says they are.

Every decision is a signed CP10 ``review-decision`` entry committed with its
``review_decisions`` row, and a final one also sets the item's ``status``, ``decision`` and
``label``. Those columns decide what the export turns into training data (a true label, an
attack), so a store writer without the key could otherwise relabel a reviewed input or mark an
unreviewed one final. Both tables are :class:`~cpmap.core.backed.LedgerTable` caches: the
decision rows are the signed decisions; an item row is checked only once it claims a decision
(queued items are not ledger entries), and then its decision, label and content digest (the
signed subject: model, input and prediction) must be the final signed decision's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cpmap.core.backed import LedgerTable, State, appended
from cpmap.review.tables import review_decisions, review_items

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
    from cpmap.core.workspace import Workspace

KINDS = ("review-decision",)


def _label(value: Any) -> str | None:
    return None if value is None else str(value)


def _decision(e: SignedEntry) -> list[dict[str, Any]]:
    d = e.details
    return [{"item": int(e.metrics.get("item") or 0), "reviewer": str(d.get("reviewer", "")),
             "decision": str(d.get("decision", "")), "label": _label(d.get("label")),
             "created_at": str(e.predicate.get("timestamp", "")), "entry": e.index}]


def _final(state: State, e: SignedEntry) -> None:
    """A final signed decision makes its item final, with that decision and label."""
    if e.details.get("final") is not True or not e.subjects:
        return
    item = int(e.metrics.get("item") or 0)
    state[(item,)] = {"id": item, "status": "final", "decision": str(e.details.get("decision")),
                      "label": _label(e.details.get("label")), "digest": e.subjects[0][1]}


def item_digest(model: str, value: Any, prediction: str) -> str:
    """What a decision signs about its item: the model, the input shown and the prediction."""
    import hashlib

    from cpmap.core.evidence import canonical_json

    return hashlib.sha256(canonical_json({"model": model, "input": value,
                                          "prediction": prediction})).hexdigest()


def _content(row: Mapping[str, Any]) -> dict[str, Any]:
    """The item's digest recomputed from its stored model, input and prediction."""
    try:
        value = json.loads(str(row["input"]))
    except ValueError:
        return {"digest": "(not JSON)"}
    return {"digest": item_digest(str(row["model"]), value, str(row["prediction"]))}


def _claims_a_decision(row: Mapping[str, Any]) -> bool:
    return row["status"] != "open" or row["decision"] is not None or row["label"] is not None


DECISIONS = LedgerTable(review_decisions, key=("item", "reviewer"), kinds=KINDS,
                        fold=appended(_decision, ("item", "reviewer")),
                        row_label=lambda k: f"item {k[0]} reviewer {k[1]!r}")
ITEMS = LedgerTable(review_items, key=("id",), kinds=KINDS, fold=_final,
                    row_label=lambda k: f"item {k[0]}", computed=_content,
                    covers=_claims_a_decision)


def verify_decisions(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every review_decisions row against its signed decision."""
    return DECISIONS.verify(ws, log)


def verify_items(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every decided review item against its final signed decision."""
    return ITEMS.verify(ws, log)
