"""A time window of the gateway's prediction log, as rows for drift and performance.

Entries are read only from batches whose signed Merkle root still matches (a tampered batch is
refused, naming its ledger entry). What an entry holds is the gateway's to decide (CP7/CP8):
``id`` and ``ts`` always; ``predictions`` (class indexes), ``confidence`` (top probability)
and the sampled raw inputs (``features`` rows of an array model, ``inputs`` named columns of a
table model: :mod:`cpmap.drift.sampling`) when the gateway keeps them. A window without any of
those is bad input for a drift test, said as such. Rows without sampled inputs leave the feature
columns empty (missing), so the per-feature tests see only the sampled rows.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from cpmap.core.workspace import Workspace

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    """Seconds in ``30m``, ``24h``, ``7d``..."""
    m = _SPAN.match(text.strip().lower())
    if not m:
        raise InputError(f"--since {text!r}: use a span like 30m, 24h or 7d")
    return float(m.group(1)) * _UNIT[m.group(2)]


def model_digests(ws: Workspace, name: str) -> dict[str, str]:
    """digest -> ref of every registered version of ``name``."""
    from cpmap.registry.versions import list_versions

    found = {mv.digest: mv.ref for mv in list_versions(ws, name)}
    if not found:
        raise InputError(f"model {name!r}: not registered", hint="cpmap registry list")
    return found


def entries(ws: Workspace, name: str, since: str | None = None) -> list[dict[str, Any]]:
    """The log entries about ``name`` newer than ``since`` (verified batches only)."""
    from sqlalchemy import select

    from cpmap.core.ledger import Ledger
    from cpmap.gateway.predlog import verify_batch
    from cpmap.gateway.tables import gateway_predictions

    digests = model_digests(ws, name)
    batches = [e.index for e in Ledger(ws).entries(kind="gateway-predictions")
               if any(s.get("digest", {}).get("sha256") in digests
                      for s in e.statement.get("subject", []))]
    cutoff = time.time() - parse_since(since) if since else float("-inf")
    out: list[dict[str, Any]] = []
    for index in batches:
        if not verify_batch(ws, index):
            raise InputError(f"prediction log batch #{index}: its entries do not match the "
                             "signed Merkle root (tampered); not using it")
        with ws.store.read() as conn:
            rows = conn.execute(select(gateway_predictions.c.entry).where(
                gateway_predictions.c.batch == index).order_by(gateway_predictions.c.seq)).all()
        for (text,) in rows:
            entry = json.loads(text)
            if float(entry.get("ts") or 0) >= cutoff:
                out.append(entry)
    return out


def frame(ws: Workspace, name: str, since: str | None = None) -> pd.DataFrame:
    """One row per predicted row: ``x0..`` features, ``prediction``, ``confidence``."""
    import pandas as pd

    from cpmap.drift.sampling import rows_of

    rows: list[dict[str, Any]] = []
    for e in entries(ws, name, since):
        preds = list(e.get("predictions") or [])
        conf = list(e.get("confidence") or [])
        feats = rows_of(e)  # the sampled inputs ([monitoring] sample_inputs), redacted
        n = max(len(preds), len(conf), len(feats))
        for i in range(n):
            row: dict[str, Any] = {"id": e.get("id"), "ts": e.get("ts")}
            if i < len(feats):
                row.update(feats[i])
                row["_sampled"] = True
            if i < len(preds):
                row["prediction"] = str(preds[i])
            if i < len(conf):
                row["confidence"] = conf[i]
            rows.append(row)
    if not rows:
        raise InputError(f"prediction log of {name!r}{f' (last {since})' if since else ''}: "
                         "no logged predictions or features in this window",
                         hint="the gateway logs predictions per request; widen --since")
    return pd.DataFrame(rows)
