"""``model_versions`` and ``model_events`` as the signed ledger says they are.

A registry version's row is written with its CP6 ``registry-version`` entry, and each
promotion or rollback's ``model_events`` row with its ``registry-promotion`` or
``registry-rollback`` entry. Readers that decide already use the signed data (a version's
manifest is verified on load; rollback folds the history from the signed moves, see
:mod:`cpmap.registry.signed_aliases`); these projections let ``cpmap ledger verify`` and
``cpmap registry verify`` report every row that a store writer without the key changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cpmap.core.backed import LedgerTable, appended
from cpmap.registry.tables import model_events, model_versions

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
    from cpmap.core.workspace import Workspace


def _version(e: SignedEntry) -> list[dict[str, Any]]:
    d = e.details
    return [{"name": str(d.get("name", "")), "version": int(d.get("version") or 0),
             "digest": str(d.get("digest", "")), "entry": e.index}]


def _event(e: SignedEntry) -> list[dict[str, Any]]:
    d = e.details
    previous = d.get("previous")
    return [{"entry": e.index, "name": str(d.get("name", "")), "stage": str(d.get("stage", "")),
             "action": "promote" if e.kind == "registry-promotion" else "rollback",
             "version": int(d.get("version") or 0),
             "from_version": None if previous is None else int(previous),
             "created_at": str(e.predicate.get("timestamp", ""))}]


VERSIONS = LedgerTable(model_versions, key=("name", "version"), kinds=("registry-version",),
                       fold=appended(_version, ("name", "version")))
EVENTS = LedgerTable(model_events, key=("entry",),
                     kinds=("registry-promotion", "registry-rollback"),
                     fold=appended(_event, ("entry",)))


def verify_versions(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every model_versions row against its signed entry."""
    return VERSIONS.verify(ws, log)


def verify_events(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every model_events row against its signed move."""
    return EVENTS.verify(ws, log)


def divergences(ws: Workspace, name: str) -> list[str]:
    """``cpmap registry verify``: every model_versions and model_events row of model ``name``
    that its signed entries do not back, one message each."""
    from cpmap.core.verified import SignedLog

    with ws.store.read() as conn:
        log = SignedLog.load(ws, conn)
        found = [p.message for t in (VERSIONS, EVENTS)
                 for p in t.divergences(t.rows(conn), log, where=lambda r: r["name"] == name)]
    return found
