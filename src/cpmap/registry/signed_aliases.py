"""Aliases and stages as the signed ledger says: ``model_aliases`` is only a checked cache.

Every alias move (``registry-alias``, ``registry-promotion``, ``registry-rollback``) is a CP6
ledger entry committed with the row that serves lookups, and the row carries that entry's
index. A store writer without the signing key could otherwise point ``production`` at an
ungated version with one UPDATE. So the table is a :class:`~cpmap.core.backed.LedgerTable`: a
row counts only when it equals the fold of the signed moves (the latest move of that model and
alias, its version, its signed time and its index); the promotion history that rollback walks
is folded from the same entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.backed import LedgerTable, State
from cpmap.core.verified import SignedEntry, SignedLog
from cpmap.registry.tables import model_aliases

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.workspace import Workspace

MOVES = ("registry-alias", "registry-promotion", "registry-rollback")


@dataclass(frozen=True)
class SignedMove:
    name: str
    alias: str
    version: int
    previous: int | None
    action: str  # alias | promote | rollback
    entry: SignedEntry


def _move(e: SignedEntry) -> SignedMove:
    d = e.details
    alias = str(d.get("alias") if e.kind == "registry-alias" else d.get("stage", ""))
    action = {"registry-alias": "alias", "registry-promotion": "promote"}.get(e.kind, "rollback")
    previous = d.get("from_version") if action == "rollback" else d.get("previous")
    return SignedMove(str(d.get("name", "")), alias, int(d.get("version", 0)),
                      None if previous is None else int(previous), action, e)


def signed_moves(log: SignedLog, name: str | None = None) -> list[SignedMove]:
    """Every signed alias move (of one model), in log order."""
    moves = [_move(e) for e in log.of_kind(*MOVES)]
    return [m for m in moves if name is None or m.name == name]


def _fold(state: State, e: SignedEntry) -> None:
    """One signed move: the (model, alias) row now points where the entry says."""
    m = _move(e)
    state[(m.name, m.alias)] = {"name": m.name, "alias": m.alias, "version": m.version,
                                "updated_at": str(e.predicate.get("timestamp", "")),
                                "entry": e.index}


ALIASES = LedgerTable(model_aliases, key=("name", "alias"), kinds=MOVES, fold=_fold,
                      row_label=lambda k: f"{k[0]}@{k[1]}")


def _of(name: str | None) -> Callable[[Mapping[str, Any]], bool] | None:
    return None if name is None else (lambda r: r["name"] == name)


def _pointers(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    return {(str(r["name"]), str(r["alias"])): int(r["version"])
            for r in sorted(rows, key=lambda r: (str(r["name"]), str(r["alias"])))}


def verified_aliases(ws: Workspace, name: str | None = None) -> dict[tuple[str, str], int]:
    """(model, alias) -> version, every row checked against the signed moves."""
    return _pointers(ALIASES.read(ws, where=_of(name)))


def current_in(ws: Workspace, conn: Connection, name: str) -> dict[tuple[str, str], int]:
    """:func:`verified_aliases` inside the caller's (write) transaction."""
    return _pointers(ALIASES.read(ws, conn, where=_of(name)))


def verify_aliases(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every model_aliases row against the signed moves."""
    return ALIASES.verify(ws, log)
