"""What to audit: pinned packages from requirements files, pyproject.toml, pylock.toml or an env.

Only exact pins (``==1.2.3`` without wildcard, ``===``) and installed or locked versions are
audited. Everything else (ranges, editables, URLs, local paths) is reported as skipped with the
reason: guessing which version would be installed gives answers nobody can act on.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from cpmap.errors import InputError, parse_reason

MAX_INCLUDE_DEPTH = 10
_COMMENT = re.compile(r"(^|\s+)#.*$")  # pip's rule: '#' at the start or after whitespace


@dataclass(frozen=True)
class Pin:
    """A package at one exact version, and where that came from (``file:line``)."""

    name: str
    version: str
    origin: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str
    origin: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Inputs:
    """The pins and skips of one or more sources, deduplicated by normalized name+version."""

    pins: tuple[Pin, ...]
    skipped: tuple[Skipped, ...]

    @staticmethod
    def combine(parts: Iterable[Inputs]) -> Inputs:
        pins: dict[tuple[str, str], Pin] = {}
        skipped: dict[tuple[str, str], Skipped] = {}
        for part in parts:
            for p in part.pins:
                pins.setdefault((canonicalize_name(p.name), p.version), p)
            for s in part.skipped:
                skipped.setdefault((canonicalize_name(s.name), s.reason), s)
        return Inputs(tuple(pins.values()), tuple(skipped.values()))


def pinned_version(req: Requirement) -> str | None:
    """The exact version a requirement pins, or None when it allows several."""
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    return specs[0].version


MAX_NAME = 200  # longer "package names" are reported by position, never echoed


def _classify(req: Requirement, origin: str) -> Pin | Skipped:
    if len(req.name) > MAX_NAME:  # a 60 MB line of letters is a valid name to packaging
        return Skipped(origin, f"a package name of {len(req.name)} characters: not audited",
                       origin)
    if req.url:
        return Skipped(req.name, f"direct reference {redact_url(req.url)}: no version to audit",
                       origin)
    if req.marker is not None:
        try:
            applies = req.marker.evaluate({"extra": ""})
        except UndefinedEnvironmentName:
            applies = True
        if not applies:
            return Skipped(req.name, f"marker '{req.marker}' excludes this environment", origin)
    version = pinned_version(req)
    if version is None:
        spec = str(req.specifier) or "any version"
        return Skipped(req.name, f"not pinned ({spec}): pin it with == or scan an environment "
                                 "or lock file", origin)
    return Pin(req.name, version, origin)


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
MAX_SHOWN = 200  # a reference longer than this is cut: a 60 MB line is not echoed
MAX_LINE = 10_000  # a requirement line longer than this is skipped unparsed, by position


def redact_url(text: str) -> str:
    """``text`` without the ``user:password@`` of any URL in it, and at most MAX_SHOWN long."""
    text = _USERINFO.sub("***@", text)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _reason(error: InvalidRequirement) -> str:
    """packaging's first line (``Expected end or semicolon...``), which names no content;
    the lines after it quote the requirement and put a caret under it."""
    first = str(error).splitlines()[0] if str(error) else ""
    if "'" in first or '"' in first:  # "Invalid specifier: '...'" quotes the input: drop it
        first = first.split(":", 1)[0]
    return first[:MAX_SHOWN] if first else "unparsable"


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines with continuations joined and comments removed, numbered by their first line."""
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
        if not buffer:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        buffer += line
        stripped = buffer.strip()
        buffer = ""
        if stripped:
            yield start, stripped


def _strip_options(line: str) -> str:
    """Drop per-requirement options such as ``--hash=sha256:...``."""
    return " ".join(t for t in line.split() if not t.startswith("--")).strip()


def parse_requirements(path: Path, _depth: int = 0, _seen: frozenset[Path] = frozenset()
                       ) -> Inputs:
    """Pins from a pip requirements file, following ``-r`` includes (``-c`` is not audited)."""
    real = path.resolve()
    if real in _seen or _depth > MAX_INCLUDE_DEPTH:
        raise InputError(f"{path}: requirement includes form a cycle or nest too deep")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read requirements file: {e}") from e
    parts: list[Inputs] = []
    pins: list[Pin] = []
    skipped: list[Skipped] = []
    for number, line in _logical_lines(text):
        origin = f"{path}:{number}"
        head, _, rest = line.partition(" ")
        if head in ("-r", "--requirement") or line.startswith(("-r", "--requirement=")):
            target = rest.strip() if rest else line.split("=", 1)[-1].removeprefix("-r")
            parts.append(parse_requirements(path.parent / target.strip(), _depth + 1,
                                            _seen | {real}))
        elif head in ("-e", "--editable"):
            skipped.append(Skipped(redact_url(rest.strip()),
                                   "editable install: no version to audit", origin))
        elif line.startswith("-"):
            continue  # index options, constraints files, --hash on its own line
        elif len(line) > MAX_LINE:
            skipped.append(Skipped(origin, f"a line of {len(line)} characters: not a "
                                   "requirement", origin))
        else:
            try:
                req = Requirement(_strip_options(line))
            except InvalidRequirement as e:
                # named by file and line, never by content: an included .env line is a secret
                skipped.append(Skipped(origin, f"not a requirement line: {_reason(e)}", origin))
                continue
            item = _classify(req, origin)
            (pins if isinstance(item, Pin) else skipped).append(item)  # type: ignore[arg-type]
    return Inputs.combine([Inputs(tuple(pins), tuple(skipped)), *parts])


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: invalid TOML: {e}") from e


def _string_list(value: Any, path: Path, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}: {key} must be a list of requirement strings")
    return value


def parse_pyproject(path: Path) -> Inputs:
    """Pins from ``[project] dependencies`` and every optional-dependencies group."""
    project = _load_toml(path).get("project")
    if not isinstance(project, dict):
        raise InputError(f"{path}: no [project] table")
    lines = list(_string_list(project.get("dependencies"), path, "[project] dependencies"))
    groups = project.get("optional-dependencies") or {}
    if not isinstance(groups, dict):
        raise InputError(f"{path}: [project.optional-dependencies] must be a table")
    for name, group in groups.items():
        lines += _string_list(group, path, f"[project.optional-dependencies] {name}")
    pins: list[Pin] = []
    skipped: list[Skipped] = []
    for text in lines:
        try:
            item = _classify(Requirement(str(text)), str(path))
        except InvalidRequirement as e:
            raise InputError(f"{path}: invalid dependency {text!r}: {e}") from e
        (pins if isinstance(item, Pin) else skipped).append(item)  # type: ignore[arg-type]
    return Inputs(tuple(pins), tuple(skipped))


def parse_pylock(path: Path) -> Inputs:
    """Pins from a PEP 751 lock file (``[[packages]]`` with ``name`` and ``version``)."""
    data = _load_toml(path)
    packages = data.get("packages")
    if not isinstance(packages, list) or not str(data.get("lock-version", "")).startswith("1"):
        raise InputError(f"{path}: not a PEP 751 lock file (lock-version 1.x, [[packages]])")
    pins: list[Pin] = []
    skipped: list[Skipped] = []
    for n, pkg in enumerate(packages):
        if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
            raise InputError(f"{path}: packages[{n}] has no name")
        if isinstance(pkg.get("version"), str):
            pins.append(Pin(pkg["name"], pkg["version"], f"{path}:packages[{n}]"))
        else:
            kind = next((k for k in ("vcs", "directory", "archive") if k in pkg), "no version")
            skipped.append(Skipped(pkg["name"], f"locked from {kind}: no version to audit",
                                   str(path)))
    return Inputs(tuple(pins), tuple(skipped))


MAX_SBOM_BYTES = 64 * 1024 * 1024


def _bom_components(items: Any, path: Path, depth: int = 0) -> Iterable[Mapping[str, Any]]:
    """Every component, nested ones too; ``components`` of another type is a malformed BOM
    (read as "no components" it made every scan of it pass)."""
    if items is None:
        return
    if not isinstance(items, list):
        raise InputError(f"{path}: 'components' is a {type(items).__name__}, not a list: not a "
                         "valid CycloneDX BOM")
    if depth > 64:
        raise InputError(f"{path}: components nested more than 64 deep")
    for c in items:
        if not isinstance(c, Mapping):
            raise InputError(f"{path}: a component is a {type(c).__name__}, not an object")
        yield c
        yield from _bom_components(c.get("components"), path, depth + 1)


def parse_cyclonedx(path: Path) -> Inputs:
    """Pins from the ``pkg:pypi`` components of a CycloneDX JSON BOM (e.g. ``cpmap sbom``)."""
    from packageurl import PackageURL

    try:
        if path.stat().st_size > MAX_SBOM_BYTES:
            raise InputError(f"{path}: larger than {MAX_SBOM_BYTES} bytes")
        doc = json.loads(path.read_bytes())
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise InputError(f"{path}: not JSON: {parse_reason(e)}") from e
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InputError(f"{path}: not a CycloneDX JSON BOM")
    pins: list[Pin] = []
    skipped: list[Skipped] = []
    for comp in _bom_components(doc.get("components"), path):
        try:
            purl = PackageURL.from_string(str(comp.get("purl") or ""))
        except ValueError:
            continue  # not a package (data, model, application) or no purl
        if purl.type != "pypi":
            continue
        if purl.version:
            pins.append(Pin(purl.name, purl.version, f"{path}:{comp.get('bom-ref', purl.name)}"))
        else:
            skipped.append(Skipped(purl.name, "BOM component without a version", str(path)))
    return Inputs(tuple(pins), tuple(skipped))


_ENV_SCRIPT = """
import json, importlib.metadata as md
out, seen = [], set()
for d in md.distributions():
    m = d.metadata
    name = m["Name"]
    if not name or name.lower() in seen:
        continue
    seen.add(name.lower())
    lic = [c for c in (m.get_all("Classifier") or []) if c.startswith("License ::")]
    out.append({"name": name, "version": m["Version"] or "",
                "license_expression": m.get("License-Expression") or "",
                "license": (m.get("License") or "").strip().splitlines()[0:1],
                "classifiers": lic, "summary": m.get("Summary") or "",
                "direct_url": d.read_text("direct_url.json") or ""})
print(json.dumps(out))
"""


def environment(python: str | None = None) -> list[dict[str, Any]]:
    """Installed distributions of an interpreter (default: this one), read in a subprocess."""
    exe = python or sys.executable
    try:
        done = subprocess.run([exe, "-I", "-c", _ENV_SCRIPT], capture_output=True,  # noqa: S603
                              text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InputError(f"{exe}: cannot run this Python: {e}") from e
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"{exe}: listing installed packages failed: {last}")
    try:
        value = json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise InputError(f"{exe}: unexpected output while listing packages") from e
    return sorted(value, key=lambda d: canonicalize_name(d["name"]))


def from_environment(dists: Sequence[Mapping[str, Any]], python: str) -> Inputs:
    pins = [Pin(d["name"], d["version"], f"env:{python}") for d in dists if d["version"]]
    return Inputs(tuple(pins), ())
