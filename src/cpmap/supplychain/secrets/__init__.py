"""Secret scanning: tokens, keys and passwords in a tree, its notebooks and its git history.

Public API: :func:`scan_tree` returns a :class:`SecretScan` whose findings carry a path, a line,
a rule and a masked value only; the secret itself never leaves this package (the baseline keeps
a hash of rule, path and secret). :func:`scrub` masks every secret in a JSON-like value: every
evidence statement goes through it before it is signed (the last line of defence).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpmap.core.findings import Finding, Location
from cpmap.core.tags import Atlas, OwaspLLM, OwaspML
from cpmap.errors import InputError
from cpmap.supplychain.secrets.engine import Hit, fingerprint, mask
from cpmap.supplychain.secrets.files import DEFAULT_MAX_BYTES, FileResult, iter_files, scan_file
from cpmap.supplychain.secrets.redact import scrub

__all__ = ["SecretFinding", "SecretScan", "scan_tree", "scrub"]

TAGS = (Atlas.T0055, OwaspLLM.LLM02,
        OwaspML.ML06)
PARALLEL_MIN_FILES = 5000  # below this, process start-up costs more than it saves


@dataclass(frozen=True)
class SecretFinding:
    path: str
    line: int
    column: int
    rule: str
    description: str
    severity: str
    masked: str
    fingerprint: str
    commit: str | None = None
    baselined: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "line": self.line, "column": self.column, "rule": self.rule,
               "severity": self.severity, "description": self.description,
               "masked": self.masked, "fingerprint": self.fingerprint,
               "baselined": self.baselined}
        if self.commit:
            out["commit"] = self.commit
        return out

    def to_finding(self) -> Finding:
        where = f" (commit {self.commit[:12]})" if self.commit else ""
        from cpmap.core.findings import Severity

        return Finding(
            rule_id=f"secret/{self.rule}", severity=Severity(self.severity),
            message=f"{self.description}: {self.masked}{where}",
            location=Location(self.path, self.line, self.column),
            remediation="Revoke and rotate the credential, remove it from the file (and from "
                        "history), and load it from the environment or a secret manager.",
            tags=TAGS,
            properties={"masked": self.masked, "fingerprint": self.fingerprint,
                        **({"commit": self.commit} if self.commit else {})})


@dataclass(frozen=True)
class SecretScan:
    root: str
    findings: tuple[SecretFinding, ...]
    files_scanned: int
    files_skipped: dict[str, int] = field(default_factory=dict)
    bytes_scanned: int = 0
    tree_digest: str = ""

    @property
    def active(self) -> tuple[SecretFinding, ...]:
        return tuple(f for f in self.findings if not f.baselined)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "files_scanned": self.files_scanned,
                "files_skipped": self.files_skipped, "bytes_scanned": self.bytes_scanned,
                "tree_digest": self.tree_digest,
                "findings": [f.to_dict() for f in self.findings],
                "summary": {"findings": len(self.active),
                            "baselined": len(self.findings) - len(self.active)}}


def _finding(path: str, hit: Hit, baseline: set[str], commit: str | None = None
             ) -> SecretFinding:
    fp = fingerprint(hit.rule.id, path, hit.secret)
    return SecretFinding(path, hit.line, hit.column, hit.rule.id, hit.rule.description,
                         hit.rule.severity.value, mask(hit.secret), fp, commit, fp in baseline)


def _scan_one(args: tuple[Path, str, int]) -> FileResult:
    return scan_file(*args)


def scan_tree(root: str | os.PathLike[str], *, history: bool = False,
              baseline: set[str] | None = None, exclude: tuple[str, ...] = (),
              max_bytes: int = DEFAULT_MAX_BYTES, jobs: int | None = None) -> SecretScan:
    """Scan every text file under ``root`` (and with ``history`` every commit's added lines)."""
    base = Path(root)
    if not base.exists():
        raise InputError(f"{base}: no such file or directory")
    known = baseline or set()
    files = iter_files(base, exclude)
    tasks = [(p, p.relative_to(base).as_posix() if base.is_dir() else p.name, max_bytes)
             for p in files]
    workers = jobs if jobs is not None else min(4, os.cpu_count() or 1)
    # an explicit --jobs is obeyed; by default only large trees are worth the process start-up
    if workers > 1 and len(tasks) >= (2 if jobs is not None else PARALLEL_MIN_FILES):
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_scan_one, tasks, chunksize=64))
    else:
        results = [_scan_one(t) for t in tasks]
    findings: list[SecretFinding] = []
    skipped: dict[str, int] = {}
    tree = hashlib.sha256()
    scanned = total = 0
    for r in results:
        if r.skipped:
            skipped[r.skipped] = skipped.get(r.skipped, 0) + 1
        else:
            scanned += 1
            total += r.size
        if r.sha256:
            tree.update(f"{r.path}\0{r.sha256}\n".encode())
        findings.extend(_finding(r.path, h, known) for h in r.hits)
    if history:
        from cpmap.supplychain.secrets.history import scan_history

        in_tree = {f.fingerprint for f in findings}  # still there: reported once, in the tree
        findings.extend(f for f in (_finding(h.path, h.hit, known, h.commit)
                                    for h in scan_history(base if base.is_dir() else base.parent))
                        if f.fingerprint not in in_tree)
    findings.sort(key=lambda f: (f.commit is not None, f.path, f.line, f.column))
    return SecretScan(str(base), tuple(findings), scanned, skipped, total, tree.hexdigest())
