"""Download OSV's public per-ecosystem export (``PyPI/all.zip``) for offline scans.

The download goes to ``all.zip.part`` and resumes from there with an HTTP range request (kept
only when the server answers 206 for the same ETag); the finished file is checked to be a zip
of OSV JSON before it replaces the previous export, and its SHA-256, size, source and time are
written beside it (``all.zip.json``), so a scan can name exactly which database it used.
Every request has a timeout: a dead mirror is an error in seconds, never a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpmap.errors import InputError
from cpmap.supplychain.osvdb import OsvError

OSV_EXPORT = "https://osv-vulnerabilities.storage.googleapis.com"
CHUNK = 1 << 16
TIMEOUT = 30.0


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    bytes: int
    records: int
    resumed_from: int
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "bytes": self.bytes,
                "records": self.records, "resumed_from": self.resumed_from, "url": self.url}


def export_url(ecosystem: str, base: str = OSV_EXPORT) -> str:
    if not ecosystem or any(c in ecosystem for c in "/\\?#") or ecosystem.startswith("."):
        raise InputError(f"--ecosystem {ecosystem!r}: an OSV ecosystem name like PyPI")
    if not base.startswith(("http://", "https://")):
        raise InputError(f"OSV export URL {base!r}: must be http:// or https://")
    return f"{base.rstrip('/')}/{ecosystem}/all.zip"


def _open(url: str, offset: int, etag: str | None, timeout: float) -> Any:
    req = urllib.request.Request(url, headers={"User-Agent": "cpmap-osv-fetch"})  # noqa: S310
    if offset and etag:
        req.add_header("Range", f"bytes={offset}-")
        req.add_header("If-Range", etag)
    try:
        return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) checked
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file is already complete
            return None
        raise OsvError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise OsvError(f"{url}: cannot download the OSV export: {reason}",
                       hint="check the network, or pass --osv-db with a copy") from e


def _download(url: str, part: Path, timeout: float,
              on_bytes: Callable[[int, int | None], None]) -> int:
    """Fill ``part`` from ``url``, resuming; return the offset it resumed from (0: fresh)."""
    side = part.with_name(part.name + ".etag")
    offset = part.stat().st_size if part.is_file() else 0
    etag = side.read_text().strip() if side.is_file() else None
    resp = _open(url, offset, etag, timeout)
    if resp is None:
        return offset
    with resp:
        resumed = offset if resp.status == 206 else 0
        length = resp.headers.get("Content-Length")
        total = resumed + int(length) if length and length.isdecimal() else None
        if resp.headers.get("ETag"):
            side.write_text(resp.headers["ETag"])
        on_bytes(resumed, total)
        with part.open("ab" if resumed else "wb") as out:
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                on_bytes(len(chunk), None)
    return resumed


def _check_zip(path: Path, url: str) -> int:
    """Count the JSON records of a finished download; refuse anything but a zip of them."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(".json")]
    except (zipfile.BadZipFile, OSError) as e:
        raise OsvError(f"{url}: the download is not a zip archive ({e}); run the fetch "
                       "again") from e
    if not names:
        raise OsvError(f"{url}: the archive holds no OSV JSON records")
    return len(names)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fetch(ecosystem: str, out_dir: Path, *, base: str = OSV_EXPORT, timeout: float = TIMEOUT,
          on_bytes: Callable[[int, int | None], None] = lambda _n, _t: None) -> Fetched:
    """Download ``<base>/<ecosystem>/all.zip`` into ``out_dir/<ecosystem>/all.zip``."""
    url = export_url(ecosystem, base)
    target_dir = out_dir / ecosystem
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{target_dir}: cannot create: {e.strerror}") from e
    part, final = target_dir / "all.zip.part", target_dir / "all.zip"
    resumed = _download(url, part, timeout, on_bytes)
    try:
        records = _check_zip(part, url)
    except OsvError:
        part.unlink(missing_ok=True)  # a corrupt partial must not be resumed
        raise
    digest, size = _sha256(part), part.stat().st_size
    os.replace(part, final)
    part.with_name(part.name + ".etag").unlink(missing_ok=True)
    info = Fetched(final, digest, size, records, resumed, url)
    meta = {**info.to_dict(), "fetched_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (target_dir / "all.zip.json").write_text(json.dumps(meta, indent=2) + "\n")
    return info
