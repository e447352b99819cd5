"""SARIF 2.1.0 for findings, in the shape GitHub code scanning accepts.

GitHub rejects a whole upload when one ``artifactLocation.uri`` has a scheme other than
``file`` (cpmap once wrote ``model:digits@2``), and it shows a rule's ``fullDescription`` and
``help`` above every alert of the rule. So:

- a finding about a file points at that file, relative to the repository root (``uriBaseId``
  ``%SRCROOT%``), or at a ``file:`` URI when it lies outside the repository;
- a finding about something that is not a file (a model version, a URL, a digest, a policy
  decision) points at the *anchor* file (the workspace's ``cpmap.toml`` unless the caller
  names another) and keeps what it is about in ``logicalLocations`` and ``properties.subject``;
- every rule has short and full descriptions, help (text and Markdown) and a help link that
  belong to the rule (:mod:`cpmap.formats.sarif_rules`), and ``security-severity`` from the
  worst of its results; a result's own remediation stays in its ``properties``;
- every result has a region (line 1 for whole-file findings) and a partial fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cpmap._version import __version__
from cpmap.core.findings import Finding, Severity
from cpmap.formats.sarif_rules import describe

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "3.0", Severity.INFO: "0.0"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def repo_root(start: Path | None = None) -> Path:
    """The repository a CI job uploads for: the nearest directory with ``.git``, else ``start``."""
    here = (start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / ".git").exists()), here)


def default_anchor(root: Path) -> str:
    """Where non-file findings point: the nearest workspace's policy file."""
    from cpmap.core.workspace import find_root

    return policy_anchor(find_root(Path.cwd()) or root, root)


def policy_anchor(workspace_root: Path, root: Path | None = None) -> str:
    """The URI of a workspace's ``cpmap.toml``: relative to ``root`` when inside it."""
    from cpmap.core.workspace import DIRNAME

    policy = workspace_root / DIRNAME / "cpmap.toml"
    return _relative_uri(policy, root or repo_root()) or policy.resolve().as_uri()


def file_uri(path: str, root: Path, base: Path | None = None) -> tuple[str, str | None] | None:
    """``(uri, uriBaseId)`` for a finding's path, or None when the path is not a file path.

    A relative path is relative to ``base`` (the directory a scanner reports paths against,
    e.g. the tree ``scan secrets`` walked), else to the working directory."""
    if not path or path == ".":
        return None
    if path.startswith("file:"):
        return path, None
    if _SCHEME.match(path) and not _DRIVE.match(path):
        return None  # model:..., sha256:..., https://...
    p = Path(path)
    if not p.is_absolute():
        if not ((base or Path.cwd()) / p).exists() and "/" not in path and "." not in p.name:
            return None  # a bare word such as "model" names no file
        p = (base or Path.cwd()) / p
    relative = _relative_uri(p, root)
    if relative is not None:
        return relative, SRCROOT
    return p.resolve().as_uri(), None


def _relative_uri(path: Path, root: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return quote(rel.as_posix(), safe="/") if rel.parts else None


def _location(f: Finding, root: Path, anchor: str, base: Path | None) -> dict[str, Any]:
    found = file_uri(f.location.path, root, base)
    uri, base_id = found if found is not None else (
        anchor, SRCROOT if not _SCHEME.match(anchor) else None)
    artifact: dict[str, Any] = {"uri": uri}
    if base_id:
        artifact["uriBaseId"] = base_id
    region: dict[str, Any] = {"startLine": max(1, f.location.line or 1)}
    if f.location.line is not None and f.location.column is not None:
        region["startColumn"] = max(1, f.location.column)
    loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": region}}
    logical = [{"name": n} for n in (None if found else f.location.path, f.location.field) if n]
    if logical:
        loc["logicalLocations"] = logical
    return loc


def _rule(rule_id: str, findings: Sequence[Finding]) -> dict[str, Any]:
    text = describe(rule_id)
    worst = max((f.severity for f in findings), key=lambda s: s.rank)
    tags = sorted({"security", *(str(t) for f in findings for t in f.tags)})
    return {
        "id": rule_id,
        "name": re.sub(r"[^A-Za-z0-9]+", "", text.short.title()) or "Rule",
        "shortDescription": {"text": text.short},
        "fullDescription": {"text": text.full},
        "help": {"text": f"{text.help}\n\n{text.help_uri}", "markdown": text.markdown},
        "helpUri": text.help_uri,
        "defaultConfiguration": {"level": _LEVEL[worst]},
        "properties": {"tags": tags, "security-severity": _SCORE[worst],
                       "problem.severity": _LEVEL[worst].replace("note", "recommendation")},
    }


def _fingerprint(f: Finding) -> str:
    key = "\0".join((f.rule_id, f.location.path, f.location.field or "", f.message))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def to_sarif(findings: Sequence[Finding], tool: str = "cpmap", *, root: Path | None = None,
             anchor: str | None = None, base: Path | None = None) -> dict[str, Any]:
    """A SARIF log with one run; rules deduplicated by id, results in the findings' order.

    ``base``: the directory the findings' relative paths are relative to (default: cwd)."""
    root = (root or repo_root()).resolve()
    anchor = anchor or default_anchor(root)
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    index = {rule_id: i for i, rule_id in enumerate(by_rule)}
    results = [{
        "ruleId": f.rule_id,
        "ruleIndex": index[f.rule_id],
        "level": _LEVEL[f.severity],
        "message": {"text": f.message or describe(f.rule_id).short},
        "locations": [_location(f, root, anchor, base)],
        "partialFingerprints": {"cpmapFinding/v1": _fingerprint(f)},
        "properties": _properties(f, root, base),
    } for f in findings]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": tool, "version": __version__,
                                "semanticVersion": _semver(__version__),
                                "informationUri": "https://github.com/cpmap/cpmap",
                                "rules": [_rule(r, fs) for r, fs in by_rule.items()]}},
            "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
            "results": results,
        }],
    }


def _properties(f: Finding, root: Path, base: Path | None) -> dict[str, Any]:
    props: dict[str, Any] = {"severity": f.severity.value, "tags": [str(t) for t in f.tags]}
    if f.remediation:
        props["remediation"] = f.remediation
    if f.location.path and file_uri(f.location.path, root, base) is None:
        props["subject"] = f.location.path
    props.update({k: v for k, v in f.properties.items() if _plain(v) and k not in props})
    return props


def _semver(version: str) -> str:
    m = re.match(r"\d+\.\d+\.\d+", version)
    return m.group(0) if m else "0.0.0"


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None
