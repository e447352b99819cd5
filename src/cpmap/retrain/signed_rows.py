"""Canary rollouts as the signed ledger says they are.

Every rollout step (start, promote, rollback, abort) is a signed CP10 ``retrain-rollout`` entry
committed with the ``retrain_rollouts`` row it changes, and the row carries the index of the
latest step. The row decides what the gateway serves (which candidate, to what share of the
clients, whether the canary is still open), so it is a :class:`~cpmap.core.backed.LedgerTable`
cache: candidate, production, share, status and start time must be the fold of the signed
steps. The per-arm ``stats`` are the gateway's running counts, not a signed claim: the
comparison a decision was made on is signed in its step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cpmap.core.backed import LedgerTable, State
from cpmap.retrain.tables import retrain_rollouts

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
    from cpmap.core.workspace import Workspace

CLOSED = {"promote": "promoted", "rollback": "rolled-back", "abort": "aborted"}


def _version(ref: Any) -> int:
    _, _, number = str(ref).rpartition("@")
    return int(number) if number.isdigit() else -1


def _fold(state: State, e: SignedEntry) -> None:
    """A ``start`` step opens the model's rollout; a later step closes it."""
    d, name = e.details, str(e.details.get("model", ""))
    action = str(d.get("action", ""))
    if action == "start":
        state[(name,)] = {"model": name, "candidate": _version(d.get("candidate")),
                          "production": _version(d.get("production")),
                          "share": float(e.metrics.get("share") or 0.0), "status": "canary",
                          "started_at": str(e.predicate.get("timestamp", "")),
                          "entry": e.index}
    elif action in CLOSED and (name,) in state:
        state[(name,)] = {**state[(name,)], "status": CLOSED[action], "entry": e.index}


ROLLOUTS = LedgerTable(retrain_rollouts, key=("model",), kinds=("retrain-rollout",),
                       fold=_fold, row_label=lambda k: str(k[0]))


def verified_rollout(ws: Workspace, name: str) -> dict[str, Any] | None:
    """``name``'s rollout row, checked against its signed steps (None: no rollout)."""
    rows = ROLLOUTS.read(ws, where=lambda r: r["model"] == name)
    return rows[0] if rows else None


def verify_rollouts(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every retrain_rollouts row against its signed steps."""
    return ROLLOUTS.verify(ws, log)
