"""Where OSV advisories come from: an offline export (folder or zip) or the OSV query API.

The offline form is what OSV publishes per ecosystem (``PyPI/all.zip``: one ``<ID>.json`` per
advisory) or any folder of OSV JSON files. Archives are read with limits on member count and
sizes and never extracted. When the package names of interest are known, records that cannot
mention them are skipped before JSON parsing, which keeps a scan against the full PyPI export
to a few seconds.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from packaging.utils import canonicalize_name

from cpmap.errors import Error, InputError
from cpmap.supplychain.osv import ECOSYSTEM, Advisory, parse_advisory

MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_MEMBERS = 1_000_000
MAX_TOTAL_BYTES = 8 * 1024**3
OSV_API = "https://api.osv.dev/v1"
SAMPLE_DB = Path(__file__).parent / "data" / "osv-sample"


class OsvError(Error):
    """The OSV service could not be reached or answered something unusable."""


class AdvisorySource(Protocol):
    """Anything that can list the advisories naming a PyPI package."""

    description: str

    def advisories(self, name: str, version: str) -> list[Advisory]: ...


def _name_pattern(names: Iterable[str]) -> re.Pattern[bytes] | None:
    """A bytes regex that finds any PEP 503 spelling of ``names`` in a lowercased record."""
    alts = sorted({re.escape(canonicalize_name(n)).replace(r"\-", "[-_.]+") for n in names})
    if not alts:
        return None
    return re.compile(("\"(?:" + "|".join(alts) + ")\"").encode())


class OfflineDatabase:
    """Advisories loaded from a folder or zip of OSV JSON, indexed by normalized name.

    Fail closed: a database with no valid OSV record (empty, a nested zip, a folder of
    records of the wrong shape) is bad input, never "no vulnerabilities". A record that can
    mention a scanned package must parse; other records get a cheap shape check, and those
    that fail it are counted and reported in :attr:`description`.
    """

    def __init__(self, path: Path, names: Iterable[str] | None = None) -> None:
        self.path = path
        self.records = 0
        self.invalid = 0
        self.by_name: dict[str, list[Advisory]] = {}
        wanted = None if names is None else {canonicalize_name(n) for n in names}
        pattern = None if wanted is None else _name_pattern(wanted)
        for source, raw in _read_records(path):
            self.records += 1
            if pattern is not None and not pattern.search(raw.lower()):
                self.invalid += not _looks_like_osv(raw)
                continue
            adv = _parse_record(raw, source)
            if adv.withdrawn:
                continue
            for name in {a.name for a in adv.affected}:
                if wanted is None or name in wanted:
                    self.by_name.setdefault(name, []).append(adv)
        if self.records == self.invalid:
            raise InputError(f"{path}: no valid OSV record ({self.records} read, "
                             f"{self.invalid} invalid): an empty or unusable database is "
                             "never a pass", hint="run `cpmap osv fetch` or pass PyPI's all.zip")
        self.description = f"OSV offline database {path} ({self.records} records" + (
            f", {self.invalid} invalid skipped)" if self.invalid else ")")

    def advisories(self, name: str, version: str) -> list[Advisory]:
        return [a for a in self.by_name.get(canonicalize_name(name), [])
                if a.affecting(name, version)]


_SHAPE = re.compile(rb'^\s*\{.*"id"\s*:\s*"', re.S)


def _looks_like_osv(raw: bytes) -> bool:
    """A cheap check of a record no scanned package can be in: a JSON object with a string id
    and an ``affected`` list, or a withdrawn record (``{"id": 5, "affected": "x"}`` fails)."""
    if not _SHAPE.match(raw[:4096]):
        return False
    return re.search(rb'"affected"\s*:\s*\[', raw) is not None or b'"withdrawn"' in raw


def _parse_record(raw: bytes, source: str) -> Advisory:
    """A record that may name a scanned package must be a well-formed OSV record: one that
    does not parse could hide the very advisory the scan is for."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise InputError(f"{source}: invalid JSON in OSV record") from e
    if isinstance(data, dict) and "affected" in data and not isinstance(data["affected"], list):
        raise InputError(f"{source}: OSV record's 'affected' is not a list")
    return parse_advisory(data, source)


def _read_records(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        yield from _read_folder(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        yield from _read_zip(path)
    elif path.is_file() and path.suffix == ".json":
        yield str(path), _bounded(path.read_bytes(), str(path))
    elif not path.exists():
        raise InputError(f"{path}: OSV database not found",
                         hint="pass a folder of OSV JSON files or PyPI's all.zip export")
    else:
        raise InputError(f"{path}: not a folder, zip or JSON file of OSV records")


def _bounded(data: bytes, source: str) -> bytes:
    if len(data) > MAX_RECORD_BYTES:
        raise InputError(f"{source}: OSV record larger than {MAX_RECORD_BYTES} bytes")
    return data


def _read_folder(path: Path) -> Iterator[tuple[str, bytes]]:
    files = sorted(p for p in path.rglob("*.json") if p.is_file() and not p.is_symlink())
    if len(files) > MAX_MEMBERS:
        raise InputError(f"{path}: more than {MAX_MEMBERS} JSON files")
    for p in files:
        if p.stat().st_size > MAX_RECORD_BYTES:
            raise InputError(f"{p}: OSV record larger than {MAX_RECORD_BYTES} bytes")
        yield str(p), p.read_bytes()


MAX_RATIO = 200  # OSV JSON compresses 5-15x; a member inflating past this is a bomb


def _hostile_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _read_zip(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [m for m in zf.infolist() if not m.is_dir()]
            bad = next((m.filename for m in infos if _hostile_name(m.filename)), None)
            if bad is not None:
                raise InputError(f"{path}: member {bad[:80]!r} escapes the archive (path "
                                 "traversal): not an OSV export")
            members = [m for m in infos if m.filename.endswith(".json")]
            if len(members) > MAX_MEMBERS:
                raise InputError(f"{path}: more than {MAX_MEMBERS} members")
            if sum(m.file_size for m in members) > MAX_TOTAL_BYTES:
                raise InputError(f"{path}: uncompressed size exceeds {MAX_TOTAL_BYTES} bytes")
            total = 0
            for m in members:
                source = f"{path}!{m.filename}"
                if m.file_size > MAX_RECORD_BYTES:
                    raise InputError(f"{source}: OSV record larger than {MAX_RECORD_BYTES} bytes")
                with zf.open(m) as fh:  # the header's size may lie: read one byte past it
                    data = _bounded(fh.read(MAX_RECORD_BYTES + 1), source)
                total += len(data)
                if total > MAX_TOTAL_BYTES or (
                        len(data) > 1 << 20 and len(data) > MAX_RATIO * max(1, m.compress_size)):
                    raise InputError(f"{source}: inflates {len(data) // max(1, m.compress_size)}"
                                     "x (zip bomb): not an OSV export")
                yield source, data
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
        raise InputError(f"{path}: unreadable zip: {type(e).__name__}") from e


class OnlineDatabase:
    """The OSV query API (``--online``): one query per pinned package."""

    description = f"OSV API {OSV_API}"

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout

    def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(  # noqa: S310 - fixed https URL
            f"{OSV_API}/{path}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        return self._fetch(request)

    def _fetch(self, request: urllib.request.Request) -> dict[str, object]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                value = json.loads(resp.read(MAX_RECORD_BYTES + 1))
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise OsvError(f"{request.full_url}: OSV API unreachable: {e}",
                           hint="use --osv-db with an offline export") from e
        except json.JSONDecodeError as e:
            raise OsvError(f"{request.full_url}: OSV API answered invalid JSON") from e
        if not isinstance(value, dict):
            raise OsvError(f"{request.full_url}: unexpected OSV API answer")
        return value

    def advisories(self, name: str, version: str) -> list[Advisory]:
        """``/v1/query`` answers full records; they are matched again by our own evaluator."""
        out: list[Advisory] = []
        token: object = None
        while True:
            body: dict[str, object] = {"package": {"name": name, "ecosystem": ECOSYSTEM},
                                       "version": version}
            if token:
                body["page_token"] = token
            answer = self._post("query", body)
            vulns = answer.get("vulns") or []
            for raw in vulns if isinstance(vulns, list) else []:
                adv = parse_advisory(raw, f"OSV API record for {name}")
                if not adv.withdrawn and adv.affecting(name, version):
                    out.append(adv)
            token = answer.get("next_page_token")
            if not token:
                return out
