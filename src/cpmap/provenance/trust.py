"""The trust store: public keys allowed to sign supplier attestations.

The workspace's own key is always trusted. Other keys are added by name; every change is a CP1
ledger entry, so an auditor can see when a supplier became trusted and by which key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert, select

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.keys import PublicKey, load_public_key, parse_public_key
from cpmap.core.ledger import Ledger
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
    with ws.store.read() as conn:
        rows = conn.execute(select(trusted_keys).order_by(trusted_keys.c.name)).all()
    return [TrustedKey(r.name, r.keyid, r.added_at,
                       parse_public_key(r.pem.encode(), f"trusted key {r.name}", r.name))
            for r in rows]


def get_key(ws: Workspace, name: str) -> PublicKey:
    for k in list_keys(ws):
        if k.name == name:
            return k.key
    raise TrustError(f"supplier {name!r}: no trusted key with this name",
                     hint=f"cpmap trust key add {name} SUPPLIER.pub")


def trusted_public_keys(ws: Workspace) -> list[PublicKey]:
    """The workspace key and every key in the trust store."""
    return [ws.public_key, *(k.key for k in list_keys(ws))]
