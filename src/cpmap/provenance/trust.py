"""The trust store: public keys allowed to sign supplier attestations.

The workspace's own key is always trusted. Other keys are added by name; every change is a CP1
ledger entry, so an auditor can see when a supplier became trusted and by which key. The
``trusted_keys`` table is a cache of those entries (:class:`~cpmap.core.backed.LedgerTable`):
every read checks it against the fold of the signed add/remove entries (a key's id is the hash
of its PEM, recomputed from the stored PEM), so a key inserted by a store writer without the
signing key is an integrity error, not a trusted supplier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert

from cpmap.core.backed import LedgerTable, State
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.keys import PublicKey, load_public_key, parse_public_key
from cpmap.core.ledger import Ledger
from cpmap.core.verified import SignedEntry, SignedLog
from cpmap.core.workspace import Workspace
from cpmap.errors import Error, InputError, TrustError
from cpmap.provenance.predicates import TrustKeyChange
from cpmap.provenance.tables import trusted_keys


@dataclass(frozen=True)
class TrustedKey:
    name: str
    keyid: str
    added_at: str
    key: PublicKey


def _validate_name(name: str) -> None:
    if not name or len(name) > 200 or any(c.isspace() or c == "+" for c in name):
        raise InputError(f"key name {name!r}: use a non-empty name without spaces or '+'")


def add_key(ws: Workspace, name: str, pem: Path) -> TrustedKey:
    """Trust the Ed25519 public key in ``pem`` under ``name``."""
    _validate_name(name)
    key = load_public_key(pem, name)
    evidence = Evidence.of(TrustKeyChange(verdict=Verdict.INFO, action="add", name=name,
                                          keyid=key.keyid), [Subject(f"key:{name}", key.keyid)])
    with ws.store.write() as conn:
        existing = {r["name"]: r for r in KEYS.read(ws, conn)}
        same = [n for n, r in existing.items() if n == name or r["keyid"] == key.keyid]
        if same:
            raise InputError(f"{pem}: key or name already trusted as {same[0]!r}")
        entry = record(evidence, ws, conn)
        conn.execute(insert(trusted_keys).values(name=name, keyid=key.keyid,
                                                 pem=key.pem().decode(),
                                                 added_at=entry.created_at, entry=entry.index))
    Ledger(ws).witness(entry)
    return TrustedKey(name, key.keyid, entry.created_at, key)


def remove_key(ws: Workspace, name: str) -> None:
    with ws.store.write() as conn:
        row = next((r for r in KEYS.read(ws, conn) if r["name"] == name), None)
        if row is None:
            raise InputError(f"trusted key {name!r}: no such key")
        conn.execute(delete(trusted_keys).where(trusted_keys.c.name == name))
        change = TrustKeyChange(verdict=Verdict.INFO, action="remove", name=name,
                                keyid=row["keyid"])
        entry = record(Evidence.of(change, [Subject(f"key:{name}", row["keyid"])]), ws, conn)
    Ledger(ws).witness(entry)


def _fold(state: State, e: SignedEntry) -> None:
    """One signed ``trust-key`` entry: an add makes the name's row, a remove drops it."""
    name, keyid = str(e.details.get("name", "")), str(e.details.get("keyid", ""))
    if e.details.get("action") == "add":
        state[(name,)] = {"name": name, "keyid": keyid, "key": keyid,
                          "added_at": str(e.predicate.get("timestamp", "")), "entry": e.index}
    elif e.details.get("action") == "remove":
        state.pop((name,), None)


def _key_of_pem(row: Mapping[str, Any]) -> dict[str, Any]:
    """The id of the key the row's PEM holds (a swapped PEM under a signed id is caught)."""
    try:
        return {"key": parse_public_key(str(row["pem"]).encode(), "trusted key", "").keyid}
    except Error:
        return {"key": "(not a public key)"}


KEYS = LedgerTable(trusted_keys, key=("name",), kinds=("trust-key",), fold=_fold,
                   computed=_key_of_pem)


def list_keys(ws: Workspace) -> list[TrustedKey]:
    """The trusted keys, each row checked against the signed trust-key entries."""
    rows = sorted(KEYS.read(ws), key=lambda r: str(r["name"]))
    return [TrustedKey(r["name"], r["keyid"], r["added_at"],
                       parse_public_key(str(r["pem"]).encode(), f"trusted key {r['name']}",
                                        r["name"])) for r in rows]


def verify_table(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: the trust store equals the fold of its signed entries."""
    return KEYS.verify(ws, log)


def get_key(ws: Workspace, name: str) -> PublicKey:
    for k in list_keys(ws):
        if k.name == name:
            return k.key
    raise TrustError(f"supplier {name!r}: no trusted key with this name",
                     hint=f"cpmap trust key add {name} SUPPLIER.pub")


def trusted_public_keys(ws: Workspace) -> list[PublicKey]:
    """The workspace key and every key in the trust store."""
    return [ws.public_key, *(k.key for k in list_keys(ws))]
