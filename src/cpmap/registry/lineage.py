"""Lineage captured at registration: datasets (CP1), code commit, SBOM, training record.

Everything here is best effort about the *environment* (no git, no training record) but strict
about what the user names: a dataset reference that does not resolve is bad input.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess  # noqa: S404 - runs git by absolute path, fixed arguments
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cpmap.core.refs import Ref
from cpmap.errors import InputError
from cpmap.registry.manifest import DatasetRef

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

_HEX64 = re.compile(r"[0-9a-f]{64}")


def resolve_dataset(ws: Workspace, ref: str) -> DatasetRef:
    """``NAME``, ``NAME@VERSION`` (CP1 registered datasets) or a bare sha256 digest.

    From the verified ``datasets`` table: what this returns is signed into a version's
    lineage, so a repointed row must not make the key holder sign another dataset's digest."""
    from cpmap.provenance.signed_rows import DATASETS

    ref = ref.strip()
    rows = DATASETS.read(ws)
    digest = ref.removeprefix("sha256:")
    if _HEX64.fullmatch(digest):
        known = sorted((int(r["version"]), str(r["name"])) for r in rows
                       if r["digest"] == digest)
        if known:
            return DatasetRef(known[0][1], known[0][0], digest)
        return DatasetRef(f"sha256:{digest[:12]}", None, digest)

    parsed = Ref.parse(ref, "dataset")
    found = [r for r in rows if r["name"] == parsed.name
             and parsed.version in (None, int(r["version"]))]
    if not found:
        raise InputError(f"dataset {ref!r}: not registered in this workspace",
                         hint="cpmap data register, or give the dataset's sha256 digest")
    row = max(found, key=lambda r: int(r["version"]))
    return DatasetRef(str(row["name"]), int(row["version"]), str(row["digest"]))


def dataset_parents(ws: Workspace, digests: Sequence[str], limit: int = 200
                    ) -> dict[str, list[str]]:
    """CP1 lineage edges upwards from ``digests``: child digest -> parent digests.

    Read from the verified ``lineage`` table (every edge equal to its signed registration):
    the gate holds a version to its data's ancestors, so an inserted edge would lend an
    unsigned dataset an ancestor's signature, and a deleted one would hide an ancestor's
    failing evidence."""
    from cpmap.provenance.signed_rows import LINEAGE

    by_child: dict[str, list[str]] = {}
    for row in LINEAGE.read(ws, strict=False):  # the gate reports a damaged log per control
        by_child.setdefault(str(row["child"]), []).append(str(row["parent"]))
    edges: dict[str, list[str]] = {}
    frontier = list(dict.fromkeys(digests))
    seen = set(frontier)
    while frontier and len(seen) < limit:
        nxt = []
        for child in frontier:
            for parent in by_child.get(child, []):
                edges.setdefault(child, []).append(parent)
                if parent not in seen:
                    seen.add(parent)
                    nxt.append(parent)
        frontier = nxt
    return edges


def dataset_names(ws: Workspace, digests: Sequence[str]) -> dict[str, str]:
    """Registered ``name@version`` for each digest that CP1 knows (display only)."""
    from cpmap.provenance.tables import datasets

    if not digests:
        return {}
    with ws.store.read() as conn:
        rows = conn.execute(select(datasets.c.name, datasets.c.version, datasets.c.digest).where(
            datasets.c.digest.in_(list(digests)))).all()
    return {str(r.digest): f"{r.name}@{r.version}" for r in rows}


def git_info(directory: Path) -> dict[str, Any] | None:
    """The commit checked out at ``directory`` and whether tracked files differ from it."""
    from cpmap.supplychain.safegit import git_path, run_git

    if git_path() is None:
        return None
    try:
        # hardened: the repository's fsmonitor, hooks, filters and pager never run (safegit)
        head = run_git(directory, "rev-parse", "--verify", "-q", "HEAD", timeout=10)
        if head.returncode != 0:
            return None
        status = run_git(directory, "status", "--porcelain", "--untracked-files=no",
                         "--ignore-submodules=all", "--no-renames", timeout=30)
    except (OSError, subprocess.SubprocessError, InputError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def read_sbom(path: Path) -> bytes:
    """The bytes of a CycloneDX JSON SBOM (as `cpmap sbom` writes it), or one clear error."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read SBOM: {e.strerror}") from e
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise InputError(f"{path}: SBOM is not valid JSON (expected CycloneDX JSON from "
                         "`cpmap sbom`)") from e
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InputError(f"{path}: not a CycloneDX SBOM (no \"bomFormat\": \"CycloneDX\")")
    return data


def read_training_record(path: Path) -> dict[str, Any]:
    """A training record given as a JSON file (``--training-record``), or one clear error."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise InputError(f"{path}: not a readable JSON training record") from e
    if not isinstance(record, dict):
        raise InputError(f"{path}: training record must be a JSON object")
    return record


def store_sbom(ws: Workspace, path: Path) -> str:
    """Keep the environment SBOM (CP3) with the workspace objects; return its digest."""
    data = read_sbom(path)
    digest = hashlib.sha256(data).hexdigest()
    ws.put_object(data, digest)
    return digest


def training_record(ws: Workspace, digest: str) -> dict[str, Any] | None:
    """The model store's (CP4) training record of a model with these bytes, if it holds one.

    A file exported from the model store and registered by path gets the same lineage as
    registering ``NAME@N`` from the store (:func:`cpmap.registry.intake.from_store`).
    """
    from cpmap.models.store import get_model

    try:
        return get_model(ws, f"sha256:{digest}").lineage_record()
    except InputError:
        return None


def scan_model_files(ws: Workspace, path: Path) -> int | None:
    """Run the CP3 model-file scanner on ``path`` and record its evidence (None: no files).

    The scan never loads or unpickles anything; its verdict is left to the gate.
    """
    from cpmap.supplychain.modelfiles.evidence import record_scan
    from cpmap.supplychain.modelfiles.scan import scan_path

    reports = scan_path(path)
    return record_scan(reports, ws).index if reports else None


ENVIRONMENT_KINDS = ("dependency-scan", "secret-scan", "sbom", "image-scan")


def environment_scans(ws: Workspace) -> tuple[dict[str, Any], ...]:
    """The latest CP3 scan of each environment kind in the ledger: what the build environment
    looked like when the version was registered, pinned by the subjects' digests."""
    from cpmap.core.ledger import Ledger

    ledger = Ledger(ws)
    out = []
    for kind in ENVIRONMENT_KINDS:
        entries = ledger.entries(control="CP3", kind=kind)
        if entries:
            e = entries[-1]
            out.append({"kind": kind, "entry": e.index,
                        "digests": [s["sha256"] for s in e.summary()["subjects"]][:20]})
    return tuple(out)
