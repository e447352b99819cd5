"""The trust store: public keys allowed to sign supplier attestations.

The workspace's own key is always trusted. Other keys are added by name; every change is a CP1
ledger entry, so an auditor can see when a supplier became trusted and by which key. The
``trusted_keys`` table is a cache of those entries: every read checks it against the fold of the
signed add/remove entries (a key's id is the hash of its PEM), so a key inserted by a store
writer without the signing key is an integrity error, not a trusted supplier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert, select

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.keys import PublicKey, load_public_key, parse_public_key
from cpmap.core.ledger import Ledger
from cpmap.core.verified import SignedLog, row_error
from cpmap.core.workspace import Workspace
from cpmap.errors import InputError, TrustError
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
    now = datetime.now(UTC).isoformat(timespec="seconds")
    evidence = Evidence.of(TrustKeyChange(verdict=Verdict.INFO, action="add", name=name,
                                          keyid=key.keyid), [Subject(f"key:{name}", key.keyid)])
    with ws.store.write() as conn:
        existing = conn.execute(select(trusted_keys.c.name).where(
            (trusted_keys.c.name == name) | (trusted_keys.c.keyid == key.keyid))).first()
        if existing is not None:
            raise InputError(f"{pem}: key or name already trusted as {existing[0]!r}")
        conn.execute(insert(trusted_keys).values(name=name, keyid=key.keyid,
                                                 pem=key.pem().decode(), added_at=now))
        entry = record(evidence, ws, conn)
    Ledger(ws).witness(entry)
    return TrustedKey(name, key.keyid, now, key)


def remove_key(ws: Workspace, name: str) -> None:
    with ws.store.write() as conn:
        row = conn.execute(select(trusted_keys).where(trusted_keys.c.name == name)).first()
        if row is None:
            raise InputError(f"trusted key {name!r}: no such key")
        conn.execute(delete(trusted_keys).where(trusted_keys.c.name == name))
        change = TrustKeyChange(verdict=Verdict.INFO, action="remove", name=name,
                                keyid=row.keyid)
        entry = record(Evidence.of(change, [Subject(f"key:{name}", row.keyid)]), ws, conn)
    Ledger(ws).witness(entry)


def list_keys(ws: Workspace) -> list[TrustedKey]:
    """The trusted keys, each row checked against the signed trust-key entries."""
    return _verified(ws, SignedLog.load(ws))


def _verified(ws: Workspace, log: SignedLog) -> list[TrustedKey]:
    with ws.store.read() as conn:
        rows = conn.execute(select(trusted_keys).order_by(trusted_keys.c.name)).all()
    signed = signed_keys(log)
    keys = []
    for r in rows:
        row = f"name {r.name!r}"
        key = parse_public_key(r.pem.encode(), f"trusted key {r.name}", r.name)
        if signed.get(r.name) != r.keyid or key.keyid != r.keyid:
            raise row_error("trusted_keys", row, f"key {key.keyid[:16]} is not the key the "
                            f"signed trust-key entries trust under this name "
                            f"({(signed.get(r.name) or 'none')[:16]}) (inserted or edited)")
        keys.append(TrustedKey(r.name, r.keyid, r.added_at, key))
    missing = sorted(set(signed) - {r.name for r in rows})
    if missing:
        raise row_error("trusted_keys", f"name {missing[0]!r}", "missing: a signed trust-key "
                        "entry added it and none removed it (deleted)")
    return keys


def signed_keys(log: SignedLog) -> dict[str, str]:
    """name -> keyid, folded from the signed ``trust-key`` add/remove entries in log order."""
    state: dict[str, str] = {}
    for e in log.of_kind("trust-key"):
        name, action = str(e.details.get("name", "")), e.details.get("action")
        if action == "add":
            state[name] = str(e.details.get("keyid", ""))
        elif action == "remove":
            state.pop(name, None)
    return state


def verify_table(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: the trust store equals the fold of its signed entries."""
    return len(_verified(ws, log))


def get_key(ws: Workspace, name: str) -> PublicKey:
    for k in list_keys(ws):
        if k.name == name:
            return k.key
    raise TrustError(f"supplier {name!r}: no trusted key with this name",
                     hint=f"cpmap trust key add {name} SUPPLIER.pub")


def trusted_public_keys(ws: Workspace) -> list[PublicKey]:
    """The workspace key and every key in the trust store."""
    return [ws.public_key, *(k.key for k in list_keys(ws))]
