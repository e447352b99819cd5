"""Writing and reading the monitored prediction log (:mod:`cpmap.monitor.tables`).

:func:`write_rows` runs inside CP7's batch transaction (the gateway's prediction log calls it
with the connection), so a batch's rows, its Merkle leaves and its signed root land together.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from cpmap.errors import InputError
from cpmap.monitor.tables import monitor_predictions as T

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.workspace import Workspace

_SINCE = re.compile(r"(\d{1,6})([smhd])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_key(ws: Workspace) -> bytes:
    """HKDF of the workspace key for client ids (separate from API-key hashing)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = ws.signing_key.key.private_bytes(serialization.Encoding.Raw,
                                           serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption())
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"cpmap monitor client id v1").derive(raw)


def hash_client(key: bytes, client: str | None) -> str | None:
    if client is None:
        return None
    return _hashed(key, client)


@lru_cache(maxsize=65536)
def _hashed(key: bytes, client: str) -> str:
    """A client's keyed id; cached because a log batch names the same few clients over and
    over (the HMAC was a third of the per-row cost of writing the log)."""
    return hmac.new(key, client.encode(), hashlib.sha256).hexdigest()[:24]


RETENTION_EVERY_S = 60.0  # the retention sweep runs at most this often per process
_swept: dict[tuple[str, str], float] = {}


def parse_since(text: str) -> float:
    """``30m``, ``1h``, ``7d`` -> seconds."""
    m = _SINCE.fullmatch(text.strip())
    if m is None:
        raise InputError(f"--since {text!r}: use a number and s, m, h or d (e.g. 1h)")
    return int(m.group(1)) * UNITS[m.group(2)]


def write_rows(conn: Connection, batch: int, entries: Sequence[dict[str, Any]], model: str,
               digest: str, key: bytes, retention_days: float) -> None:
    """The batch's rows as columns; then rows past the retention are deleted."""
    rows = [{"batch": batch, "seq": i, "request_id": str(e.get("id", ""))[:64],
             "ts": float(e.get("ts") or 0.0), "model": e.get("version") or model,
             "model_digest": e.get("version_digest") or digest,
             "client": hash_client(key, e.get("client")), "status": int(e.get("status", 0)),
             "rows": int(e.get("rows", 0)), "input_digest": e.get("input"),
             "output_digest": e.get("output"), "confidence": _mean(e.get("confidence")),
             "ood": e.get("ood"), "ood_score": e.get("ood_score"),
             "latency_ms": e.get("latency_ms"), "reason": e.get("reason")}
            for i, e in enumerate(entries)]
    if rows:
        conn.execute(insert(T), rows)
    if retention_days > 0 and _sweep_due((str(conn.engine.url), model)):
        conn.execute(delete(T).where(T.c.ts < time.time() - retention_days * 86400))


def _sweep_due(log: tuple[str, str]) -> bool:
    """Whether this process should run the retention sweep now: a DELETE over the whole log
    on every batch cost more than the batch's inserts; rows may outlive the retention by at
    most a minute."""
    now = time.monotonic()
    last = _swept.get(log)
    if last is not None and now - last < RETENTION_EVERY_S:
        return False
    _swept[log] = now
    return True


def query(ws: Workspace, model: str, *, since_s: float | None = None,
          client: str | None = None, ood_only: bool = False,
          limit: int = 1000) -> list[dict[str, Any]]:
    """Records of ``model`` (``NAME`` or ``NAME@V``), newest last."""
    stmt = select(T)
    stmt = stmt.where(T.c.model == model) if "@" in model else stmt.where(
        T.c.model.like(f"{model}@%"))
    if since_s is not None:
        stmt = stmt.where(T.c.ts >= time.time() - since_s)
    if client is not None:
        stmt = stmt.where(T.c.client == hash_client(client_key(ws), client))
    if ood_only:
        stmt = stmt.where(T.c.ood.is_(True))
    stmt = stmt.order_by(T.c.ts.desc(), T.c.batch.desc(), T.c.seq.desc()).limit(limit)
    with ws.store.read() as conn:
        found = [dict(r._mapping) for r in conn.execute(stmt)]
    return found[::-1]


def _mean(confidence: Any) -> float | None:
    """The request's mean confidence: the gateway logs one value per row (CP9 reads them)."""
    if isinstance(confidence, list):
        return round(sum(map(float, confidence)) / len(confidence), 4) if confidence else None
    return None if confidence is None else float(confidence)
