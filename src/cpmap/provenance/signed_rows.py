"""``datasets`` and ``lineage`` as the signed ledger says they are.

A dataset version and its lineage edges are written with the CP1 ``dataset-registration``
entry that records them (one transaction); the entry signs the name, version, digest, source,
supplier, license, size, parents and the path where the workspace keeps the files. These
projections let ``cpmap ledger verify`` (and any reader that decides from a row, and
``cpmap data list``) find a row inserted, edited or deleted without the key. Reading a dataset
also checks its content against the signed digest, so a file changed in place is caught too.
The ``manifest`` column (the unsigned fingerprint statement) is read by nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cpmap.core.backed import LedgerTable, appended
from cpmap.provenance.tables import datasets, lineage

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
    from cpmap.core.workspace import Workspace

KINDS = ("dataset-registration",)


def _dataset(e: SignedEntry) -> list[dict[str, Any]]:
    d, m = e.details, e.metrics
    if not e.subjects:
        return []
    return [{"name": str(d.get("dataset", "")), "version": int(d.get("version") or 0),
             "digest": e.subjects[0][1], "kind": str(d.get("kind", "")),
             "source": str(d.get("source", "")), "supplier": str(d.get("supplier") or ""),
             "license": str(d.get("license") or ""), "size_bytes": int(m.get("bytes") or 0),
             "files": int(m.get("files") or 0), "table_digest": str(d.get("table_digest") or ""),
             "path": str(d.get("path", "")),
             "created_at": str(e.predicate.get("timestamp", "")), "entry": e.index}]


def _edges(e: SignedEntry) -> list[dict[str, Any]]:
    if not e.subjects:
        return []
    child = e.subjects[0][1]
    parents = dict.fromkeys(str(p) for p in e.details.get("parents") or [])
    return [{"child": child, "parent": p, "transform": str(e.details.get("transform", "")),
             "entry": e.index} for p in parents if p != child]


DATASETS = LedgerTable(datasets, key=("name", "version"), kinds=KINDS,
                       fold=appended(_dataset, ("name", "version")))
LINEAGE = LedgerTable(lineage, key=("child", "parent"), kinds=KINDS,
                      fold=appended(_edges, ("child", "parent"), first_wins=True))


def verify_datasets(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every datasets row against its signed registration."""
    return DATASETS.verify(ws, log)


def verify_lineage(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every lineage edge against the signed registrations."""
    return LINEAGE.verify(ws, log)


def verify_rows(ws: Workspace) -> None:
    """Raise the first divergence of ``datasets`` or ``lineage`` from the signed log."""
    from cpmap.core.verified import SignedLog

    with ws.store.read() as conn:
        log = SignedLog.load(ws, conn)
        for table in (DATASETS, LINEAGE):
            table.check(table.rows(conn), log)
