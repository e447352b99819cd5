"""Dataset versions: registration with source and supplier checks, lookup, verified access.

A dataset version is a name, a version number and the root digest of its content. Registration
refuses sources outside the ``[sources] trusted`` allowlist and supplier attestations that do not
verify against a trusted key, unless ``allow_untrusted`` (which is then recorded as a finding).
The row and its CP1 evidence commit in one transaction. Opening a dataset re-fingerprints it, so
a model is never trained on bytes that differ from the registered version, and records the access.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.ledger import Ledger
from cpmap.core.names import check_name
from cpmap.core.refs import Ref
from cpmap.core.tags import Atlas, OwaspML
from cpmap.core.workspace import Workspace, open_workspace
from cpmap.errors import InputError, TrustError, VerificationFailed, WorkspaceError
from cpmap.provenance import manifest, trust
from cpmap.provenance.fingerprint import Fingerprint, fingerprint
from cpmap.provenance.predicates import DatasetAccess, DatasetRegistration
from cpmap.provenance.table import is_table, table_digest
from cpmap.provenance.tables import datasets, lineage


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    digest: str
    kind: str
    path: str
    source: str
    supplier: str = ""
    license: str = ""
    size_bytes: int = 0
    files: int = 0
    table_digest: str = ""
    created_at: str = ""
    entry: int = -1
    parents: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "ref": self.ref,
                "digest": self.digest, "kind": self.kind, "path": self.path,
                "source": self.source, "supplier": self.supplier, "license": self.license,
                "size_bytes": self.size_bytes, "files": self.files,
                "table_digest": self.table_digest, "created_at": self.created_at,
                "entry": self.entry, "parents": list(self.parents)}


def source_trusted(ws: Workspace, source: str) -> bool:
    patterns = ws.setting("sources", "trusted", []) or []
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        shown = type(patterns).__name__ if not isinstance(patterns, list) else "a non-string item"
        raise WorkspaceError(f"{ws.dir / 'cpmap.toml'}: [sources] trusted must be a list of "
                             f"pattern strings, not {shown} (check CPMAP_SOURCES_TRUSTED too)")
    return any(fnmatch.fnmatchcase(source, str(p)) for p in patterns)


def _check_supplier(ws: Workspace, path: Path, supplier: str | None, attestation: Path | None,
                    allow: bool, fp: Fingerprint) -> list[Finding]:
    if supplier is None and attestation is None:
        return []
    if attestation is None:
        raise InputError(f"supplier {supplier!r}: --attestation is required to check a supplier")
    env = manifest.read_attestation(attestation)
    keys = [trust.get_key(ws, supplier)] if supplier else trust.trusted_public_keys(ws)
    result = manifest.verify(path, env, keys, fp)
    problems = []
    if result.signer is None:
        problems.append(f"{attestation}: not signed by "
                        f"{'supplier ' + repr(supplier) if supplier else 'a trusted key'}")
    if not result.diff.clean:
        d = result.diff
        problems.append(f"{path}: does not match the supplier attestation "
                        f"({len(d.modified)} modified, {len(d.missing)} missing, "
                        f"{len(d.added)} added)")
    if problems and not allow:
        raise TrustError("; ".join(problems), hint="--allow-untrusted records it as a finding")
    return [Finding("CP1-SUPPLIER-ATTESTATION", Severity.HIGH, p, Location(str(attestation)),
                    "Obtain a correctly signed attestation from the supplier and re-register.",
                    (Atlas.T0010, OwaspML.ML02)) for p in problems]


def _source_findings(ws: Workspace, source: str, allow: bool) -> list[Finding]:
    if source_trusted(ws, source) or source.startswith("transform:"):
        return []
    if not allow:
        raise TrustError(f"source {source!r}: not in the trusted sources of cpmap.toml",
                         hint="add a pattern to [sources] trusted, or pass --allow-untrusted")
    return [Finding("CP1-UNTRUSTED-SOURCE", Severity.HIGH,
                    f"dataset registered from untrusted source {source}", Location(source),
                    "Add the source to [sources] trusted after review, or obtain the data from "
                    "a trusted source.", (Atlas.T0010, OwaspML.ML02))]


def register_dataset(
    ws: Workspace, name: str, path: Path, *, source: str | None = None,
    supplier: str | None = None, attestation: Path | None = None, license: str = "",
    allow_untrusted: bool = False, parents: Sequence[str] = (), transform: str | None = None,
    fp: Fingerprint | None = None,
) -> DatasetVersion:
    """Register ``path`` as the next version of ``name`` (or return the identical latest one)."""
    check_name("dataset", name)
    path = path.resolve()
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    src = source or (f"transform:{transform}" if transform else path.as_uri())
    findings = _source_findings(ws, src, allow_untrusted)
    fp = fp or fingerprint(path)
    findings += _check_supplier(ws, path, supplier, attestation, allow_untrusted, fp)
    table = table_digest(path) if is_table(path) else None
    latest = _latest(ws, name)
    if latest is not None and latest.digest == fp.digest and not findings:
        return latest
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with ws.store.write() as conn:
        version = int(conn.execute(select(func.coalesce(func.max(datasets.c.version), 0))
                                   .where(datasets.c.name == name)).scalar_one()) + 1
        dv = DatasetVersion(name, version, fp.digest, fp.kind, str(path), src, supplier or "",
                            license, fp.size, len(fp.files), table.digest if table else "", now,
                            parents=tuple(parents))
        evidence = _registration_evidence(dv, findings, transform, ws.relative(path))
        entry = record(evidence, ws, conn)
        conn.execute(insert(datasets).values(
            name=name, version=version, digest=fp.digest, kind=fp.kind, path=ws.relative(path),
            source=src, supplier=supplier or "", license=license, size_bytes=fp.size,
            files=len(fp.files), table_digest=dv.table_digest,
            manifest=manifest.dump_statement(manifest.statement(fp, table)),
            created_at=entry.created_at, entry=entry.index))  # the signed timestamp
        known = {r[0] for r in conn.execute(
            select(lineage.c.parent).where(lineage.c.child == fp.digest))}
        for parent in dict.fromkeys(parents):
            if parent != fp.digest and parent not in known:
                # The same content may be registered under several names: one edge is enough.
                conn.execute(insert(lineage).values(child=fp.digest, parent=parent,
                                                    transform=transform or "",
                                                    entry=entry.index))
    Ledger(ws).witness(entry)
    return DatasetVersion(**{**dv.__dict__, "entry": entry.index,
                             "created_at": entry.created_at})


def _registration_evidence(dv: DatasetVersion, findings: list[Finding],
                           transform: str | None, stored_path: str) -> Evidence:
    verdict = Verdict.WARN if findings else Verdict.PASS
    subjects = [Subject(dv.ref, dv.digest)]
    highlights = [f"{dv.ref}: {dv.files} file(s), {dv.size_bytes} bytes from {dv.source}"]
    if dv.supplier:
        highlights.append(f"supplier {dv.supplier}: attestation verified"
                          if not findings else f"supplier {dv.supplier}: attestation problems")
    return Evidence.of(DatasetRegistration(
        verdict=verdict, findings=tuple(findings), highlights=tuple(highlights), files=dv.files,
        bytes=dv.size_bytes, untrusted=len(findings), dataset=dv.name, version=dv.version,
        source=dv.source, supplier=dv.supplier, license=dv.license, data_kind=dv.kind,
        table_digest=dv.table_digest, parents=tuple(dv.parents), transform=transform or "",
        stored_path=stored_path), subjects)


def _row(r: Any, ws: Workspace, parents: tuple[str, ...] = ()) -> DatasetVersion:
    return DatasetVersion(r.name, int(r.version), r.digest, r.kind, ws.absolute(r.path),
                          r.source, r.supplier,
                          r.license, int(r.size_bytes), int(r.files), r.table_digest,
                          r.created_at, int(r.entry), parents)


def _latest(ws: Workspace, name: str) -> DatasetVersion | None:
    with ws.store.read() as conn:
        r = conn.execute(select(datasets).where(datasets.c.name == name)
                         .order_by(datasets.c.version.desc()).limit(1)).first()
    return None if r is None else _row(r, ws)


def parents_of(ws: Workspace, digest: str) -> list[tuple[str, str]]:
    """(parent digest, transform) pairs of a dataset digest."""
    with ws.store.read() as conn:
        rows = conn.execute(select(lineage.c.parent, lineage.c.transform)
                            .where(lineage.c.child == digest)).all()
    return [(r[0], r[1]) for r in rows]


def get_dataset(ws: Workspace, ref: str) -> DatasetVersion:
    """Look up ``name`` (latest version), ``name@N``, or a registered ``sha256:<hex>``.

    The datasets and lineage tables are checked against their signed registrations first
    (:mod:`cpmap.provenance.signed_rows`): a repointed row must not hand a trainer other data.
    """
    from cpmap.provenance.signed_rows import verify_rows

    verify_rows(ws)
    with ws.store.read() as conn:
        q = select(datasets)
        if ref.startswith("sha256:"):
            q = q.where(datasets.c.digest == ref[7:]).order_by(datasets.c.version.desc())
        else:
            parsed = Ref.parse(ref, "dataset")
            q = q.where(datasets.c.name == parsed.name)
            if parsed.version is not None:
                q = q.where(datasets.c.version == parsed.version)
            q = q.order_by(datasets.c.version.desc())
        r = conn.execute(q.limit(1)).first()
    if r is None:
        raise InputError(f"dataset {ref!r}: not registered", hint="cpmap data list")
    return _row(r, ws, tuple(p for p, _ in parents_of(ws, r.digest)))


def list_datasets(ws: Workspace) -> list[DatasetVersion]:
    """Every dataset version, once the rows equal their signed registrations (what
    ``cpmap data list`` shows is what was signed)."""
    from cpmap.provenance.signed_rows import verify_rows

    verify_rows(ws)
    with ws.store.read() as conn:
        rows = conn.execute(select(datasets).order_by(datasets.c.name, datasets.c.version)).all()
    return [_row(r, ws) for r in rows]


def find_by_digest(ws: Workspace, digest: str) -> DatasetVersion | None:
    try:
        return get_dataset(ws, f"sha256:{digest}")
    except InputError:
        return None


def open_dataset(ref: str, ws: Workspace | None = None, *, principal: str | None = None,
                 purpose: str = "", action: str = "read") -> DatasetVersion:
    """Return a registered dataset version after checking its bytes; record the access.

    Raises :class:`VerificationFailed` (and records a failed access) when the files on disk no
    longer match the registered digest.
    """
    ws = ws or open_workspace()
    dv = get_dataset(ws, ref)
    if principal is not None:  # CP3 least privilege: a denial raises and is recorded
        from cpmap.supplychain.access import enforce

        enforce(ws, principal, action, dv.ref, dv.digest)
    fp = fingerprint(Path(dv.path)) if Path(dv.path).exists() else None
    ok = fp is not None and fp.digest == dv.digest
    findings = [] if ok else [Finding(
        "CP1-INTEGRITY", Severity.CRITICAL,
        f"{dv.ref}: files at {dv.path} no longer match the registered digest",
        Location(dv.path), "Restore the registered data or register the change as a new "
        "version through a recorded transform.", (Atlas.T0020, OwaspML.ML02))]
    access = DatasetAccess(verdict=Verdict.PASS if ok else Verdict.FAIL, findings=tuple(findings),
                           integrity_ok=ok, principal=principal or "", purpose=purpose,
                           action=action, dataset=dv.ref)
    record(Evidence.of(access, [Subject(dv.ref, dv.digest)]), ws)
    if not ok:
        raise VerificationFailed(f"{dv.ref}: {dv.path} does not match its registered digest "
                                 f"{dv.digest[:16]}")
    return dv
