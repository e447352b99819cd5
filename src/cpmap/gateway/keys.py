"""API keys: created once, stored as a keyed hash, compared in constant time.

A key reads ``cpk_<key_id>_<secret>``: ``key_id`` finds the row, and the HMAC-SHA256 of the
whole key under a hashing key derived (HKDF) from the workspace signing key is compared with
the stored hash by :func:`hmac.compare_digest`. The store never holds a key, so a copy of the
database does not let anyone call the gateway; without the workspace key, not even a
guess can be checked offline. Creating and revoking a key are CP7 ``gateway-key`` ledger
entries, and ``gateway_keys`` is only a cache of them (:data:`KEYS`): every read compares each
row with the state folded from the signed entries, so a store writer without the signing key
can neither insert a key, widen its scopes or limits, nor undo a revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, update

from cpmap.core.backed import LedgerTable, State
from cpmap.core.evidence import record
from cpmap.core.ledger import Ledger
from cpmap.core.verified import IntegrityError, SignedEntry
from cpmap.gateway import evidence as ev
from cpmap.gateway.errors import GatewayError
from cpmap.gateway.harden import OutputPolicy
from cpmap.gateway.tables import gateway_keys

if TYPE_CHECKING:
    from cpmap.core.verified import SignedLog
    from cpmap.core.workspace import Workspace

KEY_RE = re.compile(r"cpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
CLIENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
SCOPE_RE = re.compile(r"(infer:(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,99})|metrics)")
RATE_RE = re.compile(r"\d{1,9}/(second|minute|hour|day|month)")


@dataclass(frozen=True)
class ApiKey:
    """A key as the gateway holds it: no secret, only what it grants."""

    key_id: str
    client: str
    key_hash: str
    scopes: tuple[str, ...]
    rate: str
    budget: str
    output: str
    created_at: str
    revoked_at: str | None = None

    def allows(self, scope: str) -> bool:
        if scope in self.scopes:
            return True
        return scope.startswith("infer:") and "infer:*" in self.scopes

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "key_id": self.key_id, "scopes": list(self.scopes),
                "rate": self.rate, "budget": self.budget or "default",
                "output": self.output or "default", "created_at": self.created_at,
                "revoked_at": self.revoked_at}


def hashing_key(ws: Workspace) -> bytes:
    """HKDF-SHA256 of the workspace signing key, for API keys only."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = ws.signing_key.key.private_bytes(serialization.Encoding.Raw,
                                           serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption())
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"cpmap gateway api-key hash v1").derive(raw)


def key_hash(secret_key: bytes, key: str) -> str:
    return hmac.new(secret_key, key.encode(), hashlib.sha256).hexdigest()


def _check(client: str, scopes: list[str], rate: str, budget: str, output: str) -> None:
    if not CLIENT_RE.fullmatch(client):
        raise GatewayError(f"client {client!r}: use letters, digits and . _ @ - (max 100)")
    for s in scopes:
        if not SCOPE_RE.fullmatch(s):
            raise GatewayError(f"scope {s!r}: use infer:NAME, infer:* or metrics")
    for what, value in (("rate", rate), ("budget", budget)):
        if value and not RATE_RE.fullmatch(value):
            raise GatewayError(f"{what} {value!r}: use COUNT/second|minute|hour|day|month")
    if output:
        OutputPolicy.parse(output)


def create(ws: Workspace, client: str, scopes: list[str], rate: str = "100/minute",
           budget: str = "", output: str = "") -> tuple[str, ApiKey]:
    """A new key for ``client``: (the key, shown once; what is stored)."""
    _check(client, scopes, rate, budget, output)
    key_id = secrets.token_hex(8)
    key = f"cpk_{key_id}_{secrets.token_urlsafe(32)}"
    from cpmap.registry.versions import now

    row = ApiKey(key_id, client, key_hash(hashing_key(ws), key), tuple(scopes), rate, budget,
                 output, now())
    settings = {k: v for k, v in row.to_dict().items() if k not in ("client", "key_id")}
    with ws.store.write() as conn:
        entry = record(ev.key_event("create", client, key_id, row.key_hash, settings), ws,
                       conn=conn)
        conn.execute(insert(gateway_keys).values(
            key_id=key_id, client=client, key_hash=row.key_hash, scopes=json.dumps(scopes),
            rate=rate, budget=budget, output=output, created_at=row.created_at,
            revoked_at=None, entry=entry.index))
    Ledger(ws).witness(entry)
    return key, row


def _setting(value: Any) -> str:
    """A limit as the row stores it: the signed ``default`` (never a valid rate, budget or
    output policy) is the row's empty string."""
    return "" if value in (None, "default") else str(value)


def _fold(state: State, e: SignedEntry) -> None:
    """One signed ``gateway-key`` entry applied to the expected ``gateway_keys`` rows."""
    d = e.details
    key_id = str(d.get("key_id", ""))
    if d.get("action") == "create":
        state[(key_id,)] = {
            "key_id": key_id, "client": str(d.get("client", "")),
            "key_hash": e.subjects[0][1] if e.subjects else "",
            "scopes": json.dumps([str(s) for s in d.get("scope_list") or []]),
            "rate": str(d.get("rate", "")), "budget": _setting(d.get("budget")),
            "output": _setting(d.get("output")), "created_at": str(d.get("created_at", "")),
            "revoked_at": None, "entry": e.index}
    elif d.get("action") == "revoke" and (key_id,) in state:
        state[(key_id,)]["revoked_at"] = str(d.get("revoked_at", ""))


#: ``gateway_keys`` as the signed ledger says it is.
KEYS = LedgerTable(gateway_keys, key=("key_id",), kinds=("gateway-key",), fold=_fold)


def verify_table(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every gateway_keys row against the signed key entries."""
    return KEYS.verify(ws, log)


def _row(r: Mapping[str, Any]) -> ApiKey:
    return ApiKey(str(r["key_id"]), str(r["client"]), str(r["key_hash"]),
                  tuple(json.loads(r["scopes"])), str(r["rate"]), str(r["budget"]),
                  str(r["output"]), str(r["created_at"]),
                  None if r["revoked_at"] is None else str(r["revoked_at"]))


def list_keys(ws: Workspace, include_revoked: bool = True) -> list[ApiKey]:
    """The keys, every row checked against the signed ``gateway-key`` entries (a row the log
    does not back is an :class:`~cpmap.core.verified.IntegrityError` naming it)."""
    rows = sorted(KEYS.read(ws), key=lambda r: (str(r["client"]), str(r["created_at"])))
    keys = [_row(r) for r in rows]
    return [k for k in keys if include_revoked or k.revoked_at is None]


def revoke(ws: Workspace, client: str, key_id: str | None = None) -> list[ApiKey]:
    """Revoke every live key of ``client`` (or only ``key_id``); each revocation recorded."""
    from cpmap.registry.versions import now

    live = [k for k in list_keys(ws, include_revoked=False) if k.client == client
            and (key_id is None or k.key_id == key_id)]
    if not live:
        raise GatewayError(f"client {client!r}: no live API key to revoke",
                           hint="cpmap gateway key list")
    when = now()
    entries = []
    with ws.store.write() as conn:
        for k in live:
            entries.append(record(ev.key_event("revoke", client, k.key_id, k.key_hash,
                                               {"revoked_at": when}), ws, conn=conn))
            conn.execute(update(gateway_keys).where(gateway_keys.c.key_id == k.key_id)
                         .values(revoked_at=when))
    for e in entries:
        Ledger(ws).witness(e)
    return live


class KeyRing:
    """The live keys, in memory, for the request path; :meth:`load` refreshes from the store."""

    def __init__(self, secret_key: bytes, keys: list[ApiKey] | None = None) -> None:
        self._secret = secret_key
        self._mac = hmac.new(secret_key, digestmod=hashlib.sha256)  # keyed once, copied
        self._by_id = {k.key_id: k for k in keys or [] if k.revoked_at is None}
        self._dummy = key_hash(secret_key, "cpk_0000000000000000_" + "0" * 43)
        self._lock = threading.Lock()
        self._started = self._applied = 0

    def load(self, ws: Workspace) -> None:
        """Refresh from the verified store; a table the signed log does not back leaves no
        key usable (fail closed) and raises the integrity error.

        Loads run concurrently (the periodic refresh in a thread, an explicit reload): a load
        that began before another one finished reads an older snapshot, so it never replaces
        a newer set (it would bring back a revoked key, or drop a new one, until the next
        refresh)."""
        with self._lock:
            self._started += 1
            mine = self._started
        try:
            found = {k.key_id: k for k in list_keys(ws, include_revoked=False)}
        except IntegrityError:
            self._apply(mine, {}, force=True)
            raise
        self._apply(mine, found)

    def _apply(self, generation: int, keys: dict[str, ApiKey], force: bool = False) -> None:
        with self._lock:
            if force or generation > self._applied:
                self._by_id, self._applied = keys, max(generation, self._applied)

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key's grant, or None; the same work whether or not the key id exists."""
        m = KEY_RE.fullmatch(presented)
        found = self._by_id.get(m.group(1)) if m else None
        expected = found.key_hash if found is not None else self._dummy
        mac = self._mac.copy()  # the same HMAC as key_hash, without re-keying per request
        mac.update(presented.encode())
        ok = hmac.compare_digest(mac.hexdigest(), expected)
        return found if ok and found is not None else None
