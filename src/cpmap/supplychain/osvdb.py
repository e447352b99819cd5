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
    """Advisories loaded from a folder or zip of OSV JSON, indexed by normalized name."""

    def __init__(self, path: Path, names: Iterable[str] | None = None) -> None:
        self.path = path
        self.description = f"OSV offline database {path}"
        self.records = 0
        self.by_name: dict[str, list[Advisory]] = {}
        wanted = None if names is None else {canonicalize_name(n) for n in names}
        pattern = None if wanted is None else _name_pattern(wanted)
        for source, raw in _read_records(path):
            self.records += 1
            if pattern is not None and not pattern.search(raw.lower()):
                continue
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"{source}: invalid JSON in OSV record: {e}") from e
            adv = parse_advisory(data, source)
            if adv.withdrawn:
                continue
            for name in {a.name for a in adv.affected}:
                if wanted is None or name in wanted:
                    self.by_name.setdefault(name, []).append(adv)

    def advisories(self, name: str, version: str) -> list[Advisory]:
        return [a for a in self.by_name.get(canonicalize_name(name), [])
                if a.affecting(name, version)]


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
    files = sorted(p for p in path.rglob("*.json") if p.is_file())
    if len(files) > MAX_MEMBERS:
        raise InputError(f"{path}: more than {MAX_MEMBERS} JSON files")
    for p in files:
        if p.stat().st_size > MAX_RECORD_BYTES:
            raise InputError(f"{p}: OSV record larger than {MAX_RECORD_BYTES} bytes")
        yield str(p), p.read_bytes()


def _read_zip(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and m.filename.endswith(".json")]
            if len(members) > MAX_MEMBERS:
                raise InputError(f"{path}: more than {MAX_MEMBERS} members")
            if sum(m.file_size for m in members) > MAX_TOTAL_BYTES:
                raise InputError(f"{path}: uncompressed size exceeds {MAX_TOTAL_BYTES} bytes")
            for m in members:
                source = f"{path}!{m.filename}"
                if m.file_size > MAX_RECORD_BYTES:
                    raise InputError(f"{source}: OSV record larger than {MAX_RECORD_BYTES} bytes")
                with zf.open(m) as fh:  # the header's size may lie: read one byte past it
                    yield source, _bounded(fh.read(MAX_RECORD_BYTES + 1), source)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise InputError(f"{path}: unreadable zip: {e}") from e


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
