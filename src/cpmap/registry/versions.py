"""Registering, loading, listing and verifying model versions.

Versions are numbered per model name from 1 and are immutable: the row and the CP6 ledger entry
that records it are written in one store transaction, registering the same content again returns
the existing version, and different content under an existing version number is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from cpmap.core import names
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger
from cpmap.core.refs import MAX_VERSION, Ref
from cpmap.core.verified import IntegrityError
from cpmap.errors import InputError
from cpmap.registry import lineage as lin
from cpmap.registry.artifact import Artifact, check_artifact, check_objects, store_artifact
from cpmap.registry.manifest import Lineage, ModelVersion, open_manifest, sign_manifest, statement
from cpmap.registry.predicates import RegistryVersion
from cpmap.registry.tables import model_versions

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class Registered:
    version: ModelVersion
    created: bool


def check_name(name: str) -> str:
    return names.check_name("model", name)


def parse_ref(ref: str) -> Ref:
    """``NAME@VERSION`` / ``NAME@ALIAS`` / ``NAME`` (latest) of a registry model."""
    return Ref.parse(ref, "model", aliases=True)


def register(ws: Workspace, name: str, path: Path, *, datasets: Sequence[str] = (),
             training: Mapping[str, Any] | None = None, parent: str | None = None,
             card: Mapping[str, Any] | None = None, sbom: Path | None = None,
             version: int | None = None, git_dir: Path | None = None,
             scan: bool = False, pin_environment: bool = False) -> Registered:
    """Store ``path`` as a version of ``name`` with its lineage; idempotent per content.

    With ``scan`` the CP3 model-file scanner checks the files first and
    records its evidence, which the gate then finds under the version's digests. With
    ``pin_environment`` the workspace's latest CP3 environment scans (dependencies, secrets,
    SBOM, images) become part of the lineage, so the gate holds the version to them.
    """
    check_name(name)
    if version is not None and version < 1:
        raise InputError(f"version {version}: versions are numbered from 1")
    if version is not None and version > MAX_VERSION:
        raise InputError(f"version {version}: versions are numbered up to {MAX_VERSION}")
    check_artifact(path)  # bad input changes nothing: no scan evidence for a refused model
    if sbom is not None:
        lin.read_sbom(sbom)
    refs = tuple(dict.fromkeys(lin.resolve_dataset(ws, d) for d in datasets))
    parent_info = None
    if parent:
        p = get(ws, parent)
        parent_info = {"name": p.name, "version": p.version, "digest": p.digest}
    if training and not refs:  # a given record's datasets must resolve before any scan
        refs = _datasets_from_training(ws, training)
    if scan and not _known(ws, name, path, version):
        lin.scan_model_files(ws, path)
    artifact = store_artifact(ws, path)
    sbom_digest = lin.store_sbom(ws, sbom) if sbom is not None else None
    train = dict(training) if training else lin.training_record(ws, artifact.digest)
    if train and not refs:
        refs = _datasets_from_training(ws, train)
    about = tuple(e.index for e in Ledger(ws).entries(digest=artifact.digest))
    git = lin.git_info(git_dir or ws.root)
    env = lin.environment_scans(ws) if pin_environment else ()
    with ws.store.write() as conn:
        existing = _existing(conn, name, artifact.digest, version)
        if existing is not None:
            return Registered(_load_row(ws, existing), False)
        number = version or _next_version(conn, name)
        if parent_info is None and number > 1:
            parent_info = _previous(conn, ws, name, number)
        lineage = Lineage(refs, train, git, sbom_digest, parent_info, about, env)
        st = statement(name, number, artifact, lineage, card or {})
        envelope = sign_manifest(st, ws.signing_key)
        now = str(st["predicate"]["created_at"])
        entry = record(_evidence(name, number, artifact, lineage, card or {}), ws, conn=conn)
        conn.execute(insert(model_versions).values(
            name=name, version=number, digest=artifact.digest, manifest=envelope.to_json().decode(),
            created_at=now, entry=entry.index))
    Ledger(ws).witness(entry)
    return Registered(get(ws, f"{name}@{number}"), True)


def _known(ws: Workspace, name: str, path: Path, version: int | None) -> bool:
    """Whether ``path`` is already a version of ``name`` (a repeat registration: no rescan)."""
    from cpmap.registry.artifact import artifact_digest

    digest = artifact_digest(path)
    with ws.store.read() as conn:
        row = conn.execute(select(model_versions.c.version).where(
            model_versions.c.name == name, model_versions.c.digest == digest)).first()
    return row is not None and (version is None or int(row[0]) == version)


def _datasets_from_training(ws: Workspace, train: Mapping[str, Any]) -> tuple[Any, ...]:
    """Training data named by the model layer's record (``datasets`` or ``meta``)."""
    found = []
    meta = train.get("meta") if isinstance(train.get("meta"), dict) else {}
    listed = train.get("datasets") or []
    if not isinstance(listed, list):
        raise InputError(f"training record: 'datasets' must be a list, got {listed!r:.80}")
    named = list(listed)
    if isinstance(meta, dict) and isinstance(meta.get("dataset_digest"), str):
        named.append({"name": meta.get("dataset"), "digest": meta["dataset_digest"]})
    for d in named:
        digest = d.get("digest") if isinstance(d, dict) else d
        if isinstance(digest, str):
            found.append(lin.resolve_dataset(ws, digest))
    return tuple(dict.fromkeys(found))


def _existing(conn: Connection, name: str, digest: str, version: int | None) -> Any:
    if version is not None:
        row = conn.execute(select(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == version)).first()
        if row is not None and row.digest != digest:
            raise InputError(f"{name}@{version}: already registered with different content "
                             f"(sha256:{row.digest[:12]}); versions are immutable",
                             hint="register without --version to create a new version")
        if row is not None:
            return row
    return conn.execute(select(model_versions).where(
        model_versions.c.name == name, model_versions.c.digest == digest)
        .order_by(model_versions.c.version).limit(1)).first()


def _next_version(conn: Connection, name: str) -> int:
    top = conn.execute(select(func.max(model_versions.c.version)).where(
        model_versions.c.name == name)).scalar()
    return int(top or 0) + 1


def _previous(conn: Connection, ws: Workspace, name: str, number: int) -> dict[str, Any] | None:
    row = conn.execute(select(model_versions).where(
        model_versions.c.name == name, model_versions.c.version < number)
        .order_by(model_versions.c.version.desc()).limit(1)).first()
    if row is None:
        return None
    return {"name": name, "version": int(row.version), "digest": str(row.digest)}


def _evidence(name: str, number: int, artifact: Artifact, lineage: Lineage,
              card: Mapping[str, Any]) -> Evidence:
    subjects = [Subject(f"model:{name}@{number}", artifact.digest)]
    subjects += [Subject(f"dataset:{d.name}" + (f"@{d.version}" if d.version else ""), d.digest)
                 for d in lineage.datasets]
    highlights = [f"registered {name}@{number} sha256:{artifact.digest[:12]} "
                  f"({artifact.size} bytes, {', '.join(artifact.formats)})"]
    if lineage.git:
        highlights.append(f"code commit {str(lineage.git.get('commit', ''))[:12]}"
                          + (" (dirty)" if lineage.git.get("dirty") else ""))
    return Evidence.of(RegistryVersion(
        verdict=Verdict.PASS, highlights=tuple(highlights), version_number=number,
        bytes=artifact.size, files=len(artifact.files), datasets=len(lineage.datasets),
        name=name, version=number, digest=artifact.digest, lineage=lineage.to_dict(),
        card_fields=tuple(sorted(card))), subjects)


# -- loading ---------------------------------------------------------------------------------

def _load_row(ws: Workspace, row: Any) -> ModelVersion:
    return open_manifest(str(row.manifest), ws.public_key, name=str(row.name),
                         version=int(row.version), digest=str(row.digest), entry=int(row.entry))


def resolve_version(ws: Workspace, ref: Ref) -> int:
    """The version number a reference names: its number, the latest, or its alias's."""
    if ref.version is not None:
        return ref.version
    name = ref.name
    if ref.alias is None:  # the latest of the versions the signed log registered
        top = max((int(r["version"]) for r in _verified_rows(ws, name)), default=None)
        if top is None:
            raise InputError(f"model {name!r}: no versions registered",
                             hint="cpmap registry list")
        return top
    version = aliases(ws, name).get(ref.alias)  # only what the signed ledger backs
    if version is None:
        raise InputError(f"{ref}: no such version or alias", hint=f"cpmap registry show {name}")
    return version


def get(ws: Workspace, ref: str) -> ModelVersion:
    """Load and verify ``NAME[@VERSION|@ALIAS]``."""
    parsed = parse_ref(ref)
    name, number = parsed.name, resolve_version(ws, parsed)
    with ws.store.read() as conn:
        row = conn.execute(select(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == number)).first()
    if row is None:
        raise InputError(f"{name}@{number}: no such model version", hint="cpmap registry list")
    return _load_row(ws, row)


def matching(ws: Workspace, ref: str) -> list[ModelVersion]:
    """``NAME@VERSION`` / ``NAME@ALIAS``: that version; a bare ``NAME``: all of its versions."""
    return [get(ws, ref)] if "@" in ref else list_versions(ws, parse_ref(ref).name)


def _verified_rows(ws: Workspace, name: str | None) -> list[dict[str, Any]]:
    """The model_versions rows (of one model), once they equal the signed registrations: a
    deleted or inserted version is an integrity error, not a shorter or longer list."""
    from cpmap.registry.signed_rows import VERSIONS

    return VERSIONS.read(ws, where=None if name is None else (lambda r: r["name"] == name))


def list_versions(ws: Workspace, name: str | None = None) -> list[ModelVersion]:
    """Every version (of one model), the rows checked against their signed entries and each
    manifest verified as it is loaded."""
    from types import SimpleNamespace

    rows = _verified_rows(ws, check_name(name) if name else None)
    rows.sort(key=lambda r: (str(r["name"]), int(r["version"])))
    return [_load_row(ws, SimpleNamespace(**r)) for r in rows]


def aliases(ws: Workspace, name: str) -> dict[str, int]:
    """alias -> version of model ``name``, each row checked against its signed move entry
    (:mod:`cpmap.registry.signed_aliases`; a mismatch is an integrity error)."""
    from cpmap.registry.signed_aliases import verified_aliases

    return {alias: v for (_, alias), v in verified_aliases(ws, name).items()}


@dataclass(frozen=True)
class VerifyResult:
    ref: str
    digest: str
    ok: bool
    problems: tuple[str, ...]
    artifact_checked: bool

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.ref, "digest": self.digest, "ok": self.ok,
                "problems": list(self.problems), "artifact_checked": self.artifact_checked}


def verify(ws: Workspace, mv: ModelVersion, artifact: Path | None = None) -> VerifyResult:
    """Beyond the manifest signature (checked on load): stored bytes, ledger entry, a copy,
    and the model's aliases, versions and promotion events against their signed entries."""
    from cpmap.registry import signed_rows

    problems = list(check_objects(ws, mv.artifact))
    try:
        entry = Ledger(ws).get(mv.entry)
        digests = {s["sha256"] for s in entry.summary()["subjects"]}
        if mv.digest not in digests or entry.envelope.verified_by([ws.public_key]) is None:
            problems.append(f"ledger entry #{mv.entry} does not record this version")
    except InputError:
        problems.append(f"ledger entry #{mv.entry} is missing")
    try:  # the model's aliases, each against its signed move (production repointed?)
        aliases(ws, mv.name)
    except IntegrityError as e:
        problems.append(e.message)
    problems += signed_rows.divergences(ws, mv.name)
    if artifact is not None:
        from cpmap.registry.artifact import artifact_digest

        given = artifact_digest(artifact)
        if given != mv.digest:
            problems.append(f"{artifact}: sha256:{given[:12]} is not this version "
                            f"(sha256:{mv.digest[:12]})")
    return VerifyResult(mv.ref, mv.digest, not problems, tuple(problems), artifact is not None)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
