"""Aliases and stages as the signed ledger says: ``model_aliases`` is only a checked cache.

Every alias move (``registry-alias``, ``registry-promotion``, ``registry-rollback``) is a CP6
ledger entry committed with the row that serves lookups, and the row carries that entry's
index. A store writer without the signing key could otherwise point ``production`` at an
ungated version with one UPDATE. So a row counts only when the entry it names is in the
verified log, moves the same model and alias to the same version, and no later signed move of
that alias exists; the promotion history that rollback walks is folded from the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cpmap.core.verified import SignedEntry, SignedLog, mismatch, row_error
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


def _rows(conn: Connection, name: str | None) -> list[Any]:
    q = select(model_aliases).order_by(model_aliases.c.name, model_aliases.c.alias)
    if name is not None:
        q = q.where(model_aliases.c.name == name)
    return list(conn.execute(q).all())


def verified_aliases(ws: Workspace, name: str | None = None) -> dict[tuple[str, str], int]:
    """(model, alias) -> version, every row checked against the signed moves."""
    with ws.store.read() as conn:
        rows = _rows(conn, name)
        log = SignedLog.load(ws, conn)
    return _check(rows, log, name)


def current_in(ws: Workspace, conn: Connection, name: str) -> dict[tuple[str, str], int]:
    """:func:`verified_aliases` inside the caller's (write) transaction."""
    return _check(_rows(conn, name), SignedLog.load(ws, conn), name)


def _check(rows: list[Any], log: SignedLog, name: str | None) -> dict[tuple[str, str], int]:
    latest = {(m.name, m.alias): m for m in signed_moves(log, name)}
    out: dict[tuple[str, str], int] = {}
    for r in rows:
        key, label = (str(r.name), str(r.alias)), f"{r.name}@{r.alias}"
        e = log.entry("model_aliases", label, int(r.entry), MOVES)
        m = _move(e)
        mismatch("model_aliases", label, e, {"model": (key[0], m.name), "alias": (key[1], m.alias),
                                             "version": (int(r.version), m.version)})
        if latest[key].entry.index != e.index:
            raise row_error("model_aliases", label, f"names ledger entry #{e.index}, but signed "
                            f"entry #{latest[key].entry.index} moved it later, to version "
                            f"{latest[key].version} (repointed)")
        out[key] = int(r.version)
    missing = sorted(set(latest) - set(out))
    if missing:
        raise row_error("model_aliases", "@".join(missing[0]), "missing: signed entry "
                        f"#{latest[missing[0]].entry.index} set it (deleted)")
    return out


def verify_aliases(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every model_aliases row against the signed moves."""
    with ws.store.read() as conn:
        rows = _rows(conn, None)
    return len(_check(rows, log, None))
