"""Pickle-based model files: refused unless the user trusted that exact SHA-256.

Unpickling runs arbitrary code, so a pickle (``.pkl``, ``.joblib``, ``torch.save`` files) is
loaded only when its digest is listed in ``[models] trusted_pickle_digests`` of ``cpmap.toml``
or was trusted with ``cpmap models trust DIGEST`` (recorded as signed evidence). A refusal says
why, with the CP3 model-file scanner's findings when that scanner is installed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError, TrustError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

_HEX = re.compile(r"^[0-9a-f]{64}$")


class UntrustedPickle(TrustError):
    """A pickle-based model file whose digest nobody trusted."""


def normalize_digest(digest: str) -> str:
    d = digest.strip().lower().removeprefix("sha256:")
    if not _HEX.match(d):
        raise InputError(f"{digest!r}: not a SHA-256 digest (64 hex characters)")
    return d


def trusted_digests(ws: Workspace | None) -> set[str]:
    """Digests trusted in cpmap.toml ``[models] trusted_pickle_digests`` and in the store."""
    if ws is None:
        return set()
    from cpmap.models.tables import trusted_pickles

    listed = ws.setting("models", "trusted_pickle_digests", []) or []
    if isinstance(listed, str):
        listed = [listed]
    found = {normalize_digest(str(d)) for d in listed}
    with ws.store.read() as conn:
        found |= {r[0] for r in conn.execute(select(trusted_pickles.c.digest)).all()}
    return found


def trust(ws: Workspace, digest: str, note: str) -> int:
    """Trust a pickle digest after review; returns the ledger index of the signed record."""
    from cpmap.core.evidence import Evidence, Subject, Verdict, record
    from cpmap.core.findings import Finding, Location, Severity
    from cpmap.core.ledger import Ledger
    from cpmap.models.tables import trusted_pickles
    from cpmap.robustness.predicates import PickleTrust

    d = normalize_digest(digest)
    if not note.strip():
        raise InputError("--note: say who reviewed the file and why it is safe")
    if d in trusted_digests(ws):
        raise InputError(f"sha256:{d}: already trusted")
    finding = Finding("CP4-PICKLE-TRUSTED", Severity.MEDIUM,
                      f"pickle-based model file sha256:{d[:16]} trusted for loading: {note}",
                      Location(f"sha256:{d}"), "Convert the model to safetensors or skops.",
                      (Atlas.T0011_000, OwaspML.ML06))
    ev = Evidence.of(PickleTrust(verdict=Verdict.WARN, findings=(finding,), note=note,
                                 highlights=(finding.message,)), [Subject("pickle-model", d)])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with ws.store.write() as conn:
        entry = record(ev, ws, conn)
        conn.execute(insert(trusted_pickles).values(digest=d, note=note[:2000],
                                                    created_at=now, entry=entry.index))
    Ledger(ws).witness(entry)
    return entry.index


def scan_reasons(path: Path) -> list[str]:
    """What the CP3 model-file scanner (which never unpickles) says about ``path``."""
    import importlib

    try:
        scanner: Any = importlib.import_module("cpmap.supplychain.modelfiles")
        reports: Any = scanner.scan_path(path)
    except Exception:  # noqa: BLE001 - the scanner is advisory here; the refusal stands anyway
        return []
    out = []
    for report in list(reports or [])[:3]:
        verdict = getattr(getattr(report, "verdict", None), "value", "unknown")
        why = [str(getattr(r, "message", r)) for r in list(getattr(report, "reasons", ()))[:3]]
        out.append(verdict + (f" ({'; '.join(why)})" if why else ""))
    return out


def refuse(path: Path, digest: str) -> UntrustedPickle:
    reasons = scan_reasons(path)
    detail = f"; CP3 model-file scan: {'; '.join(reasons)}" if reasons else ""
    return UntrustedPickle(
        f"{path}: pickle-based model file (sha256:{digest}) is not trusted; loading it could "
        f"run arbitrary code{detail}",
        hint=f"convert it to safetensors/skops, or after review: cpmap models trust {digest} "
             "--note '...'")
