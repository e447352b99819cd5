"""The ``models`` table as the signed ledger says it is.

Every stored model version is recorded (``save_model``) as CP4 evidence of a kind built on
:class:`~cpmap.robustness.predicates.StoredModelEvidence` whose first subject is the model
digest, in the same transaction as its row. The row decides which artifact ``models get`` and
every loader use, and its training record how it is loaded (a user's own model's schema, the
reviewed skops types; the entry signs the record's SHA-256), so a store writer could otherwise
repoint ``name@N`` at another artifact or widen what loading may run:
readers go through :func:`verified_models`, and ``cpmap ledger verify`` checks the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from cpmap.core.backed import LedgerTable, appended

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
    from cpmap.core.workspace import Workspace


def _rows(e: SignedEntry) -> list[dict[str, Any]]:
    d = e.details
    if not e.subjects or d.get("version") is None:
        return []
    return [{"name": str(d.get("model", "")), "version": int(d["version"]),
             "digest": e.subjects[0][1], "format": str(d.get("format", "")),
             "arch": str(d.get("arch", "")), "record_sha256": str(d.get("record_sha256", "")),
             "created_at": str(e.predicate.get("timestamp", "")), "entry": e.index}]


def _record_digest(row: Mapping[str, Any]) -> dict[str, Any]:
    """The SHA-256 of the stored training record, compared with the signed one."""
    return {"record_sha256": hashlib.sha256(str(row["record"]).encode()).hexdigest()}


@cache
def models_table() -> LedgerTable:
    """The projection over every stored-model evidence kind the controls declare."""
    from cpmap.controls import all_controls
    from cpmap.models.tables import models
    from cpmap.robustness.predicates import StoredModelEvidence

    kinds = tuple(sorted({p.kind for c in all_controls() for p in c.evidence
                          if issubclass(p, StoredModelEvidence) and p.kind}))
    return LedgerTable(models, key=("name", "version"), kinds=kinds,
                       fold=appended(_rows, ("name", "version")), computed=_record_digest)


def verified_models(ws: Workspace) -> list[dict[str, Any]]:
    """Every ``models`` row, checked against its signed entry."""
    return models_table().read(ws)


def verify_models(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every models row against the signed stored-model entries."""
    return models_table().verify(ws, log)
