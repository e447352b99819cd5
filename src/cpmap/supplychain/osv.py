"""OSV advisories for PyPI and the matcher that decides whether a version is affected.

The evaluation follows the OSV schema's own algorithm: for each ``ECOSYSTEM`` range the events
are sorted by version and walked in order (``introduced`` opens, ``fixed`` closes at that
version, ``last_affected`` closes after it); ``limit`` events bound the range; an explicit
``versions`` list matches too. Versions compare by PEP 440 (epochs, pre/post/dev releases) and
package names by PEP 503, both via ``packaging``. Only the ``PyPI`` ecosystem is read, and
withdrawn advisories are ignored. ``GIT`` and ``SEMVER`` ranges are not used for PyPI versions:
OSV's PyPI records always carry the ecosystem range or the version list alongside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from cpmap.core.findings import Severity
from cpmap.errors import InputError
from cpmap.supplychain import cvss

ECOSYSTEM = "PyPI"
_GHSA_RATING = {"CRITICAL": Severity.CRITICAL, "HIGH": Severity.HIGH,
                "MODERATE": Severity.MEDIUM, "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW}
# Which id names a merged vulnerability: the PyPI database's own id first, then GitHub's.
_ID_PREFERENCE = ("PYSEC-", "GHSA-")


@dataclass(frozen=True)
class Event:
    """One range event: ``kind`` is introduced, fixed, last_affected or limit."""

    kind: str
    version: str

    def key(self) -> tuple[int, Version | None, int]:
        """Sort key: introduced "0" before everything; at equal versions, opening first."""
        if self.kind == "introduced" and self.version == "0":
            return (0, None, 0)
        return (1, Version(self.version), 0 if self.kind == "introduced" else 1)


@dataclass(frozen=True)
class Affected:
    """The affected versions of one PyPI package in one advisory."""

    name: str  # PEP 503 normalized
    ranges: tuple[tuple[Event, ...], ...]  # ECOSYSTEM ranges, events sorted
    versions: frozenset[str]

    def affects(self, version: str) -> bool:
        if version in self.versions:
            return True
        parsed = _parse(version)
        if parsed is None:
            return False
        if any(_parse(v) == parsed for v in self.versions):
            return True
        return any(_in_range(parsed, events) for events in self.ranges)

    def fixes_above(self, version: str) -> list[str]:
        """Versions named ``fixed`` in this package's ranges that are newer than ``version``."""
        parsed = _parse(version)
        return [e.version for events in self.ranges for e in events
                if e.kind == "fixed" and (parsed is None or Version(e.version) > parsed)]


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity | None
    affected: tuple[Affected, ...]
    withdrawn: bool = False
    titled: bool = False  # the summary is the record's own, not cut from its details

    def affecting(self, name: str, version: str) -> list[Affected]:
        canon = canonicalize_name(name)
        return [a for a in self.affected if a.name == canon and a.affects(version)]


@dataclass(frozen=True)
class Vuln:
    """One vulnerability of one dependency: an advisory merged with the advisories it aliases."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    fix_versions: tuple[str, ...]
    severity: Severity | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "aliases": list(self.aliases), "summary": self.summary,
                "fix_versions": list(self.fix_versions),
                "severity": self.severity.value if self.severity else None}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parse(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _in_range(version: Version, events: Sequence[Event]) -> bool:
    limits = [e.version for e in events if e.kind == "limit"]
    if limits and not any(lim == "*" or version < Version(lim) for lim in limits):
        return False
    affected = False
    for e in events:
        if e.kind == "introduced":
            if e.version == "0" or version >= Version(e.version):
                affected = True
        elif e.kind == "fixed":
            if version >= Version(e.version):
                affected = False
        elif e.kind == "last_affected" and version > Version(e.version):
            affected = False
    return affected


def _events(raw: Any) -> tuple[Event, ...] | None:
    """The range's events, sorted; None when a version in it is not PEP 440 (range unusable)."""
    out = []
    for item in _as_list(raw):
        if not isinstance(item, Mapping):
            continue
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            if kind in item:
                value = str(item[kind])
                if not (value == "0" and kind == "introduced") and not (
                        kind == "limit" and value == "*") and _parse(value) is None:
                    return None
                out.append(Event(kind, value))
    bounds = [e for e in out if e.kind != "limit"]
    limits = [e for e in out if e.kind == "limit"]
    return tuple(sorted(bounds, key=Event.key)) + tuple(limits)


def _affected(raw: Mapping[str, Any]) -> Affected | None:
    pkg = raw.get("package")
    if not isinstance(pkg, Mapping) or pkg.get("ecosystem") != ECOSYSTEM or not pkg.get("name"):
        return None
    ranges = []
    for r in _as_list(raw.get("ranges")):
        if isinstance(r, Mapping) and r.get("type") == "ECOSYSTEM":
            events = _events(r.get("events"))
            if events:
                ranges.append(events)
    versions = frozenset(str(v) for v in _as_list(raw.get("versions")) if isinstance(v, str))
    return Affected(canonicalize_name(str(pkg["name"])), tuple(ranges), versions)


def _severity(data: Mapping[str, Any]) -> Severity | None:
    specific = data.get("database_specific")
    if isinstance(specific, Mapping):
        rated = _GHSA_RATING.get(str(specific.get("severity", "")).upper())
        if rated is not None:
            return rated
    scores = [cvss.base_score(str(s.get("score", ""))) for s in _as_list(data.get("severity"))
              if isinstance(s, Mapping) and str(s.get("type", "")).startswith("CVSS_V3")]
    known = [s for s in scores if s is not None]
    return cvss.rating(max(known)) if known else None


def _summary(data: Mapping[str, Any]) -> str:
    text = str(data.get("summary") or "").strip()
    if not text:
        details = " ".join(str(data.get("details") or "").split())
        text = details.split(". ")[0]
    return text if len(text) <= 160 else text[:157] + "..."


def parse_advisory(data: Any, source: str) -> Advisory:
    """An :class:`Advisory` from one OSV JSON record; ``source`` names it in errors."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise InputError(f"{source}: not an OSV record (no string 'id')")
    affected = tuple(a for a in (_affected(x) for x in _as_list(data.get("affected"))
                                 if isinstance(x, Mapping)) if a is not None)
    aliases = tuple(str(a) for a in _as_list(data.get("aliases")) if isinstance(a, str))
    return Advisory(id=data["id"], aliases=aliases, summary=_summary(data),
                    severity=_severity(data), affected=affected,
                    withdrawn=bool(data.get("withdrawn")),
                    titled=bool(str(data.get("summary") or "").strip()))


def _preferred(ids: Iterable[str]) -> str:
    def rank(i: str) -> tuple[int, str]:
        for n, prefix in enumerate(_ID_PREFERENCE):
            if i.startswith(prefix):
                return (n, i)
        return (len(_ID_PREFERENCE) + (1 if i.startswith("CVE-") else 0), i)

    return min(ids, key=rank)


def _groups(advisories: Sequence[Advisory]) -> list[list[Advisory]]:
    """Advisories that share an id or alias, transitively (union-find over the ids)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for adv in advisories:
        for alias in adv.aliases:
            parent[find(alias)] = find(adv.id)
    groups: dict[str, list[Advisory]] = {}
    for adv in advisories:
        groups.setdefault(find(adv.id), []).append(adv)
    return sorted(groups.values(), key=lambda g: _preferred(a.id for a in g))


def sort_versions(versions: Iterable[str]) -> tuple[str, ...]:
    """Unique versions, ascending by PEP 440 (equal versions such as 2.0 and 2.0.0 once)."""
    seen: dict[Version, str] = {}
    for v in versions:
        parsed = _parse(v)
        if parsed is not None:
            seen.setdefault(parsed, v)
    return tuple(seen[k] for k in sorted(seen))


def merge(name: str, version: str, matched: Sequence[Advisory]) -> list[Vuln]:
    """One :class:`Vuln` per group of aliased advisories that affect ``name`` ``version``."""
    vulns = []
    for group in _groups(matched):
        ids = {a.id for a in group} | {x for a in group for x in a.aliases}
        main = _preferred(a.id for a in group)
        fixes = [f for a in group for aff in a.affecting(name, version)
                 for f in aff.fixes_above(version)]
        ratings = [a.severity for a in group if a.severity is not None]
        # a record's own title beats a sentence cut from details; the main id's beats others'
        ordered = sorted(group, key=lambda a: (not a.titled, a.id != main, a.id))
        summary = next((a.summary for a in ordered if a.summary), "")
        vulns.append(Vuln(id=main, aliases=tuple(sorted(ids - {main})), summary=summary,
                          fix_versions=sort_versions(fixes),
                          severity=max(ratings, key=lambda s: s.rank) if ratings else None))
    return vulns


def smallest_fix(name: str, version: str, matched: Sequence[Advisory],
                 vulns: Sequence[Vuln]) -> str | None:
    """The lowest known fixed version that none of the matched advisories affects."""
    for candidate in sort_versions(f for v in vulns for f in v.fix_versions):
        if not any(a.affecting(name, candidate) for a in matched):
            return candidate
    return None
