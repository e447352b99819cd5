"""``redteam_findings`` statuses as the signed ledger says they are.

A tracked finding's status (open, remediated, accepted) is what the next campaign signs into
its CP5 evidence, which the gate reads. A store writer without the key could set a finding to
``accepted`` and have the key holder sign that at the next campaign. So before a campaign
reconciles, every row's status is compared with the status folded from the signed entries:
each ``redteam-campaign`` entry's ``status`` (the findings it reproduced) and ``transitions``
(the ones it remediated), and each ``redteam-acceptance`` entry. A row no signed entry made is
refused too. Rows the log expects but the table lacks are not an error (``complete=False``):
the next campaign reinserts a missing finding as open, the safe direction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpmap.core.backed import LedgerTable, State
from cpmap.core.verified import SignedLog
from cpmap.redteam.tables import redteam_findings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.verified import SignedEntry
    from cpmap.core.workspace import Workspace


def _fold(state: State, e: SignedEntry) -> None:
    d = e.details
    if e.kind == "redteam-acceptance":
        fid = str(d.get("finding", ""))
        state[(fid,)] = {"id": fid, "status": "accepted"}
        return
    status = d.get("status")
    for fid, value in (status.items() if isinstance(status, dict) else ()):
        state[(str(fid),)] = {"id": str(fid), "status": str(value)}
    for t in d.get("transitions") or ():
        if isinstance(t, dict) and t.get("after") == "remediated":
            state[(str(t.get("id")),)] = {"id": str(t.get("id")), "status": "remediated"}


FINDINGS = LedgerTable(redteam_findings, key=("id",),
                       kinds=("redteam-campaign", "redteam-acceptance"), fold=_fold,
                       complete=False)


def check_in(ws: Workspace, conn: Connection) -> None:
    """Before a campaign signs statuses: every row against the signed log (in ``conn``)."""
    FINDINGS.check(FINDINGS.rows(conn), SignedLog.load(ws, conn))


def verify_findings(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every tracked finding's status against the signed entries."""
    return FINDINGS.verify(ws, log)
