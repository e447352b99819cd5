"""Vetted container images: digest pinning, no ``latest``, and the workspace allowlist.

A tag is a mutable pointer: the image behind ``python:3.11-slim`` changes under the same name,
so only a digest (``@sha256:...``) names what was vetted. The allowlist in ``cpmap.toml``::

    [images]
    allow = [
      "gcr.io/distroless/*",                                  # any image under this prefix
      { pattern = "python:3.11-slim*", digests = ["sha256:<64 hex>"] },  # only these builds
    ]

Patterns are fnmatch globs over the reference as written and its normalized form
(``python`` is ``docker.io/library/python``). Without an allowlist only pinning is checked.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, Verdict, canonical_json, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas, OwaspML
from cpmap.errors import InputError
from cpmap.supplychain.imagerefs import ImageUse, SkippedFile, candidate_files, read_uses
from cpmap.supplychain.predicates import ImageScan

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

TAGS = (Atlas.T0010, OwaspML.ML06)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """Fully qualified repository: ``docker.io/library/python``."""
        return f"{self.registry}/{self.repository}"


def parse_ref(ref: str) -> ImageRef | None:
    """Split ``[registry/]repo[:tag][@digest]``; None when it is not an image reference."""
    rest, _, digest = ref.partition("@")
    if not rest or any(c.isspace() for c in ref):
        return None
    if "@" in ref and not _DIGEST.match(digest):
        return None  # '@sha256:zz' is no pin: report it as invalid, never as pinned
    head, sep, tail = rest.rpartition(":")
    if sep and "/" not in tail:
        rest, tag = head, tail
    else:
        tag = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry = "docker.io"
        repository = rest if slash else f"library/{rest}"
    if not repository:
        return None
    return ImageRef(registry, repository.lower(), tag, digest or None)


@dataclass(frozen=True)
class AllowRule:
    pattern: str
    digests: tuple[str, ...] = ()

    def matches(self, ref: str, parsed: ImageRef) -> bool:
        bare = ref.partition("@")[0]
        forms = {bare, parsed.name, bare.rpartition(":")[0] if parsed.tag else bare}
        if parsed.tag:
            forms.add(f"{parsed.name}:{parsed.tag}")
        return any(fnmatch.fnmatchcase(f, self.pattern) for f in forms)


def allowlist(config: Any, source: str = "cpmap.toml") -> list[AllowRule]:
    """The ``[images] allow`` rules; a malformed entry is bad input naming the file."""
    entries = config if isinstance(config, list) else []
    if config is not None and not isinstance(config, list):
        raise InputError(f"{source}: [images] allow must be a list")
    rules = []
    for n, item in enumerate(entries):
        if isinstance(item, str):
            rules.append(AllowRule(item))
        elif isinstance(item, Mapping) and isinstance(item.get("pattern"), str):
            raw = item.get("digests") or []
            if not isinstance(raw, list):  # a bare string would be read character by character
                raise InputError(f"{source}: [images] allow[{n}]: digests must be a list")
            digests = tuple(str(d) for d in raw)
            bad = [d for d in digests if not _DIGEST.match(d)]
            if bad:
                raise InputError(f"{source}: [images] allow[{n}]: {bad[0]!r} is not "
                                 "sha256:<64 hex>")
            rules.append(AllowRule(item["pattern"], digests))
        else:
            raise InputError(f"{source}: [images] allow[{n}] needs a pattern")
    return rules


def workspace_allowlist(ws: Workspace | None) -> list[AllowRule]:
    """The workspace's ``[images] allow`` rules (none without a workspace)."""
    if ws is None:
        return allowlist(None)
    return allowlist(ws.setting("images", "allow"), str(ws.dir / "cpmap.toml"))


def _f(rule: str, sev: Severity, use: ImageUse, msg: str, fix: str) -> Finding:
    return Finding(rule_id=rule, severity=sev, message=f"{use.ref} ({use.context}): {msg}",
                   location=Location(path=use.path, line=use.line), remediation=fix, tags=TAGS,
                   properties={"image": use.ref, "context": use.context})


def check(use: ImageUse, rules: Sequence[AllowRule]) -> list[Finding]:
    """Findings for one image use."""
    if use.unresolved:
        return [_f("CP3-IMG-UNRESOLVED", Severity.MEDIUM, use, "image depends on a variable "
                   "without a default, so what runs cannot be verified",
                   "give the build argument a pinned default or pin the image directly")]
    parsed = parse_ref(use.ref)
    if parsed is None:
        return [_f("CP3-IMG-INVALID", Severity.MEDIUM, use, "not a valid image reference",
                   "write registry/repository:tag@sha256:digest")]
    out = []
    if parsed.digest is None and parsed.tag in (None, "latest"):
        how = "the implicit 'latest' tag" if parsed.tag is None else "the 'latest' tag"
        out.append(_f("CP3-IMG-LATEST", Severity.HIGH, use, f"uses {how}: a different image "
                      "on every pull", "pin a version tag and its digest"))
    if parsed.digest is None:
        out.append(_f("CP3-IMG-UNPINNED", Severity.MEDIUM, use, "not pinned by digest",
                      f"pin it: {use.ref.partition('@')[0]}@sha256:<digest of the vetted image>"))
    if rules:
        matching = [r for r in rules if r.matches(use.ref, parsed)]
        if not matching:
            out.append(_f("CP3-IMG-NOT-ALLOWED", Severity.HIGH, use, "outside the image "
                          "allowlist", "use a vetted image or add it to [images] allow"))
        elif all(r.digests and parsed.digest not in r.digests for r in matching):
            out.append(_f("CP3-IMG-DIGEST", Severity.HIGH, use, "digest is not one the "
                          "allowlist vetted for this image",
                          f"use one of: {', '.join(d for r in matching for d in r.digests)}"))
    return out


@dataclass(frozen=True)
class ImagesReport:
    root: str
    files: Mapping[str, str]  # scanned path -> sha256
    uses: tuple[ImageUse, ...]
    findings: tuple[Finding, ...]
    skipped: tuple[SkippedFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"images": [{"image": u.ref, "path": u.path, "line": u.line, "context": u.context,
                            "rules": sorted({f.rule_id for f in self.findings
                                             if f.properties.get("image") == u.ref
                                             and f.location.path == u.path
                                             and f.location.line == u.line})}
                           for u in self.uses],
                "findings": [f.to_dict() for f in self.findings],
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}

    def metrics(self) -> dict[str, int]:
        return {"files": len(self.files), "images": len(self.uses),
                "pinned": sum(1 for u in self.uses if (p := parse_ref(u.ref)) and p.digest),
                "findings": len(self.findings), "skipped": len(self.skipped)}


def scan(root: Path, rules: Sequence[AllowRule] = ()) -> ImagesReport:
    files: dict[str, str] = {}
    uses: list[ImageUse] = []
    skipped: list[SkippedFile] = []
    explicit = root.is_file()
    for path in candidate_files(root):
        found, skip = read_uses(path, explicit)
        if skip is not None:
            skipped.append(skip)
            continue
        if found or explicit:
            files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            uses += found
    findings = tuple(f for u in uses for f in check(u, rules))
    return ImagesReport(str(root), files, tuple(uses), findings, tuple(skipped))


def record_evidence(report: ImagesReport, ws: Workspace) -> Entry:
    tree = hashlib.sha256(canonical_json(dict(report.files))).hexdigest()
    worst = max((f.severity.rank for f in report.findings), default=-1)
    verdict = (Verdict.FAIL if worst >= Severity.HIGH.rank else
               Verdict.WARN if report.findings else Verdict.PASS)
    lines = [f"{len(report.uses)} image references in {len(report.files)} files, "
             f"{report.metrics()['pinned']} pinned by digest, {len(report.findings)} findings"]
    lines += [f"{f.location}: {f.rule_id} {f.properties.get('image')}"
              for f in report.findings[:5]]
    m = report.metrics()
    scan = ImageScan(verdict=verdict, findings=tuple(report.findings), highlights=tuple(lines),
                     files=m["files"], images=m["images"], pinned=m["pinned"],
                     finding_count=m["findings"], skipped=m["skipped"],
                     scanned=dict(report.files))
    evidence = Evidence.of(scan, [Subject(f"images:{report.root}", tree)])
    return record(evidence, ws)
