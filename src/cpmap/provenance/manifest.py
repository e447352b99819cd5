"""Signed data manifests: an in-toto statement of every file's digest, in a DSSE envelope.

``sign`` produces what a supplier ships with a dataset; ``verify`` recomputes the fingerprint and
reports modified, missing and added files, and accepts the signature only from a trusted key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core import dsse
from cpmap.core.evidence import STATEMENT_TYPE, Evidence, Subject, Verdict, canonical_json, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.keys import PublicKey, SigningKey
from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError
from cpmap.provenance.fingerprint import Diff, Fingerprint, diff, fingerprint
from cpmap.provenance.predicates import DataSignature, DataVerification
from cpmap.provenance.table import TableDigest, is_table, table_digest

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

MANIFEST_TYPE = "https://cpmap.dev/evidence/data-manifest/v1"
TAMPER_TAGS = (Atlas.T0020, OwaspML.ML02)


def statement(fp: Fingerprint, table: TableDigest | None = None) -> dict[str, Any]:
    """The in-toto statement of a fingerprint: a subject per file, the root in the predicate."""
    predicate: dict[str, Any] = {
        "control": "CP1", "kind": fp.kind, "root": fp.root.name,
        "digest": {"sha256": fp.digest}, "files": len(fp.files), "bytes": fp.size,
    }
    if table is not None:
        predicate["table"] = {"sha256": table.digest, "rows": table.rows,
                              "columns": list(table.columns)}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f.path, "digest": {"sha256": f.sha256}} for f in fp.files],
        "predicateType": MANIFEST_TYPE,
        "predicate": predicate,
    }


def fingerprint_statement(path: Path, **kwargs: Any) -> tuple[Fingerprint, dict[str, Any]]:
    fp = fingerprint(path, **kwargs)
    table = table_digest(path) if is_table(path) else None
    return fp, statement(fp, table)


def sign(path: Path, key: SigningKey) -> dsse.Envelope:
    return sign_fingerprint(path, key)[1]


def sign_fingerprint(path: Path, key: SigningKey) -> tuple[Fingerprint, dsse.Envelope]:
    """The fingerprint of ``path`` and its signed manifest, from one hashing pass."""
    fp, st = fingerprint_statement(path)
    return fp, dsse.sign(canonical_json(st), key)


def read_attestation(path: Path) -> dsse.Envelope:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read attestation: {e.strerror}") from e
    env = dsse.parse_envelope(data, str(path))
    try:
        st = env.statement()
    except InputError as e:
        raise InputError(f"{path}: {e.message}") from e
    if st.get("predicateType") != MANIFEST_TYPE or not isinstance(st.get("subject"), list):
        raise InputError(f"{path}: not a cpmap data manifest attestation")
    pred = st.get("predicate", {})
    if not all(_subject_ok(s) for s in st["subject"]) or not isinstance(pred, dict) \
            or not isinstance(pred.get("digest", {}), dict):
        raise InputError(f"{path}: malformed data manifest (subjects need a name and a sha256 "
                         f"digest, the predicate must be an object)")
    return env


def _subject_ok(s: Any) -> bool:
    return (isinstance(s, dict) and isinstance(s.get("name"), str)
            and isinstance(s.get("digest"), dict) and isinstance(s["digest"].get("sha256"), str))


@dataclass(frozen=True)
class Verification:
    signer: PublicKey | None
    diff: Diff
    expected_digest: str
    actual_digest: str

    @property
    def ok(self) -> bool:
        return self.signer is not None and self.diff.clean

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "signed_by": self.signer.name if self.signer else None,
                "signer_keyid": self.signer.keyid if self.signer else None,
                "expected_digest": self.expected_digest, "actual_digest": self.actual_digest,
                "modified": list(self.diff.modified), "missing": list(self.diff.missing),
                "added": list(self.diff.added)}


def verify(path: Path, envelope: dsse.Envelope, keys: list[PublicKey],
           fp: Fingerprint | None = None) -> Verification:
    """Check ``path`` against a signed manifest, trusting only ``keys``.

    ``fp`` is the fingerprint of ``path`` when the caller already has it (no second hashing).
    """
    st = envelope.statement()
    expected = {str(s["name"]): str(s["digest"]["sha256"]) for s in st["subject"]}
    fp = fp or fingerprint(path)
    pred = st.get("predicate", {})
    if fp.kind == "file" and pred.get("kind") == "file" and len(expected) == 1:
        # A single file may be renamed; its content is what is attested.
        name = next(iter(expected))
        actual = {name: fp.digest}
    else:
        actual = {f.path: f.sha256 for f in fp.files}
    return Verification(envelope.verified_by(keys), diff(expected, actual),
                        str(pred.get("digest", {}).get("sha256", "")), fp.digest)


def dump(envelope: dsse.Envelope) -> str:
    return json.dumps(envelope.to_dict(), indent=2) + "\n"


def dump_statement(st: dict[str, Any]) -> str:
    return canonical_json(st).decode()


# -- CP1 evidence of `cpmap data sign` and `cpmap data verify` --------------------------------

def record_signature(ws: Workspace, path: Path, fp: Fingerprint, attestation: Path) -> Entry:
    """Record that the workspace key signed ``path`` (written to ``attestation``)."""
    signed = DataSignature(verdict=Verdict.PASS, files=len(fp.files), bytes=fp.size,
                           attestation=str(attestation), keyid=ws.signing_key.keyid,
                           highlights=(f"signed {len(fp.files)} file(s) of {path.name}, "
                                       f"root sha256:{fp.digest[:16]}",))
    return record(Evidence.of(signed, [Subject(path.name, fp.digest)]), ws)


def record_verification(ws: Workspace, path: Path, result: Verification) -> Entry:
    """Record a verification: a finding per changed file, and one for an untrusted signer."""
    findings = [Finding("CP1-MODIFIED" if kind == "modified" else f"CP1-{kind.upper()}",
                        Severity.HIGH, f"{kind} file: {name}", Location(f"{path}/{name}"),
                        "Restore the file or re-sign the dataset through a recorded transform.",
                        TAMPER_TAGS)
                for kind in ("modified", "missing", "added")
                for name in getattr(result.diff, kind)]
    if result.signer is None:
        findings.append(Finding("CP1-UNTRUSTED-SIGNATURE", Severity.HIGH,
                                "attestation not signed by a trusted key", Location(str(path)),
                                "cpmap trust key add NAME KEY.pub after verifying the key"))
    checked = DataVerification.strict(
        Verdict.PASS if result.ok else Verdict.FAIL,
        {"modified": len(result.diff.modified), "missing": len(result.diff.missing),
         "added": len(result.diff.added)}, findings, {"path": str(path), **result.to_dict()})
    subject = Subject(path.name, result.expected_digest or result.actual_digest)
    return record(Evidence.of(checked, [subject]), ws)
