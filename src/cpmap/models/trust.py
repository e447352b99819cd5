"""Pickle-based model files: refused unless the user trusted that exact SHA-256.

Unpickling runs arbitrary code, so a pickle (``.pkl``, ``.joblib``, ``torch.save`` files) is
loaded only when its digest was trusted with ``cpmap models trust DIGEST``: a signed
``model-pickle-trust`` ledger entry (the ``trusted_pickles`` row is a
:class:`~cpmap.core.backed.LedgerTable` cache: it counts only when that signed entry backs
it). A digest listed in ``[models] trusted_pickle_digests`` of ``cpmap.toml`` grants nothing
by itself (whoever can edit a file in the workspace would otherwise grant code execution with
no record): ``cpmap models trust --from-config --note ...`` turns the listing into signed
entries, and a refusal of a listed digest says so. A refusal says why, with the CP3
model-file scanner's findings when that scanner is installed.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from cpmap.core.backed import LedgerTable, appended
from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError, TrustError

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
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
    """Digests trusted by signed ``model-pickle-trust`` entries (through the store rows).

    A store row counts only when the signed ledger entry it names is in the verified log and
    trusts the same digest; any other row is an integrity error (a store writer without the
    key cannot make cpmap unpickle a file). ``cpmap.toml`` listings are not trust
    (:func:`config_listed`).
    """
    if ws is None:
        return set()
    from cpmap.core.verified import SignedLog

    return _verified_rows(ws, SignedLog.load(ws))


def config_listed(ws: Workspace | None) -> list[str]:
    """Digests listed in ``[models] trusted_pickle_digests`` (a request, not a grant)."""
    if ws is None:
        return []
    listed = ws.setting("models", "trusted_pickle_digests", []) or []
    if isinstance(listed, str):
        listed = [listed]
    return list(dict.fromkeys(normalize_digest(str(d)) for d in listed))


def trust_listed(ws: Workspace, note: str, *, runs_code: bool = False) -> list[tuple[str, int]]:
    """``cpmap models trust --from-config``: a signed trust entry for each digest listed in
    ``cpmap.toml`` and not yet trusted; (digest, ledger index) of each new entry."""
    listed = config_listed(ws)
    if not listed:
        raise InputError("cpmap.toml: [models] trusted_pickle_digests lists no digest")
    done = trusted_digests(ws)
    return [(d, trust(ws, d, note, runs_code=runs_code)) for d in listed if d not in done]


def _trust_row(e: SignedEntry) -> list[dict[str, Any]]:
    if not e.subjects:
        return []
    return [{"digest": e.subjects[0][1], "note": str(e.details.get("note", ""))[:2000],
             "created_at": str(e.predicate.get("timestamp", "")), "entry": e.index}]


@cache
def pickles_table() -> LedgerTable:
    """``trusted_pickles`` as the fold of the signed ``model-pickle-trust`` entries."""
    from cpmap.models.tables import trusted_pickles

    return LedgerTable(trusted_pickles, key=("digest",), kinds=("model-pickle-trust",),
                       fold=appended(_trust_row, ("digest",), first_wins=True),
                       row_label=lambda k: f"digest {str(k[0])[:16]}")


def _verified_rows(ws: Workspace, log: SignedLog) -> set[str]:
    return {str(r["digest"]) for r in pickles_table().read(ws, log=log)}


def verify_table(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: every trusted_pickles row against its signed entry."""
    return pickles_table().verify(ws, log)


def scan_verdict(ws: Workspace, digest: str) -> tuple[str, int | None]:
    """The latest signed CP3 model-scan verdict about ``digest`` and its ledger index."""
    from cpmap.core.verified import SignedLog

    scans = [e for e in SignedLog.load(ws).of_kind("model-scan") if digest in e.digests]
    if not scans:
        return "unscanned", None
    m = scans[-1].metrics
    verdict = ("malicious" if m.get("malicious") else
               "suspicious" if m.get("suspicious") else "safe")
    return verdict, scans[-1].index


def trust(ws: Workspace, digest: str, note: str, *, runs_code: bool = False) -> int:
    """Trust a pickle digest after review; returns the ledger index of the signed record.

    A digest the CP3 model scanner called malicious is refused unless ``runs_code`` (the
    CLI's ``--i-know-this-runs-code``); the scan verdict is recorded in the trust entry.
    """
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
    verdict, scan = scan_verdict(ws, d)
    if verdict == "malicious" and not runs_code:
        raise TrustError(f"sha256:{d}: the CP3 model scan (ledger entry {scan}) calls this "
                         "file malicious; loading it runs its code",
                         hint="only if you mean it: cpmap models trust ... "
                              "--i-know-this-runs-code")
    finding = Finding("CP4-PICKLE-TRUSTED",
                      Severity.CRITICAL if verdict == "malicious" else Severity.MEDIUM,
                      f"pickle-based model file sha256:{d[:16]} trusted for loading "
                      f"(CP3 scan: {verdict}): {note}",
                      Location(f"sha256:{d}"), "Convert the model to safetensors or skops.",
                      (Atlas.T0011_000, OwaspML.ML06))
    ev = Evidence.of(PickleTrust(verdict=Verdict.WARN, findings=(finding,), note=note,
                                 scan_verdict=verdict, scan_entry=scan,
                                 runs_code_acknowledged=runs_code,
                                 highlights=(finding.message,)), [Subject("pickle-model", d)])
    with ws.store.write() as conn:
        entry = record(ev, ws, conn)
        conn.execute(insert(trusted_pickles).values(digest=d, note=note[:2000],
                                                    created_at=entry.created_at,
                                                    entry=entry.index))
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


def refuse(path: Path, digest: str, ws: Workspace | None = None) -> UntrustedPickle:
    reasons = scan_reasons(path)
    detail = f"; CP3 model-file scan: {'; '.join(reasons)}" if reasons else ""
    if digest in config_listed(ws):
        return UntrustedPickle(
            f"{path}: pickle-based model file (sha256:{digest}) is listed in cpmap.toml "
            "[models] trusted_pickle_digests, but only a signed ledger entry grants trust "
            f"(a listing is not on the record){detail}",
            hint="after review: cpmap models trust --from-config --note '...'")
    return UntrustedPickle(
        f"{path}: pickle-based model file (sha256:{digest}) is not trusted; loading it could "
        f"run arbitrary code{detail}",
        hint=f"convert it to safetensors/skops, or after review: cpmap models trust {digest} "
             "--note '...'")
