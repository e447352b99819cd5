"""``cpmap osv fetch``: download, resume, record, configure; against a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cpmap.cli import main as _main
from cpmap.supplychain.osvdb import OsvError
from cpmap.supplychain.osvfetch import fetch

SAMPLE = Path(__file__).parents[2] / "src" / "cpmap" / "supplychain" / "data" / "osv-sample"


def main(argv: list[str]) -> int:
    try:
        _main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in sorted(SAMPLE.glob("*.json")):
            z.writestr(p.name, p.read_bytes())
    return buf.getvalue()


class _Export(BaseHTTPRequestHandler):
    body = b""
    ranges: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path != "/PyPI/all.zip":
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and self.headers.get("If-Range") == '"v1"':
            self.ranges.append(wanted)
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
        self.send_response(206 if start else 200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(self.body) - start))
        self.end_headers()
        self.wfile.write(self.body[start:])

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    _Export.body, _Export.ranges = _zip(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Export)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_checks_and_records_the_digest(server: str, tmp_path: Path) -> None:
    got = fetch("PyPI", tmp_path, base=server)
    assert got.path == tmp_path / "PyPI" / "all.zip"
    assert got.sha256 == hashlib.sha256(_Export.body).hexdigest()
    assert got.records == len(list(SAMPLE.glob("*.json"))) and got.resumed_from == 0
    meta = json.loads((tmp_path / "PyPI" / "all.zip.json").read_text())
    assert meta["sha256"] == got.sha256 and meta["url"] == f"{server}/PyPI/all.zip"
    assert not (tmp_path / "PyPI" / "all.zip.part").exists()


def test_an_interrupted_download_resumes_from_its_partial_file(server: str,
                                                               tmp_path: Path) -> None:
    part = tmp_path / "PyPI" / "all.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(_Export.body[:100])
    part.with_name("all.zip.part.etag").write_text('"v1"')
    seen: list[int] = []
    got = fetch("PyPI", tmp_path, base=server, on_bytes=lambda n, _t: seen.append(n))
    assert _Export.ranges == ["bytes=100-"] and got.resumed_from == 100
    assert got.sha256 == hashlib.sha256(_Export.body).hexdigest()
    assert sum(seen) == len(_Export.body)  # the progress bar counts the resumed part too


def test_a_corrupt_download_is_refused_and_not_kept(server: str, tmp_path: Path) -> None:
    _Export.body = b"not a zip at all" * 10
    with pytest.raises(OsvError, match="not a zip"):
        fetch("PyPI", tmp_path, base=server)
    assert not (tmp_path / "PyPI" / "all.zip").exists()
    assert not (tmp_path / "PyPI" / "all.zip.part").exists()


def test_an_unreachable_mirror_fails_fast_with_exit_2(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["osv", "fetch", "-o", str(tmp_path), "--url", f"http://127.0.0.1:{port}",
                 "--timeout", "3"]) == 2
    assert "cannot download the OSV export" in capsys.readouterr().err


def test_fetch_in_a_workspace_configures_scan_deps(server: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--name", "acme"]) == 0
    (tmp_path / "requirements.txt").write_text("numpy==2.4.6\n")
    assert main(["scan", "deps", "-r", "requirements.txt"]) == 2
    assert "cpmap osv fetch" in capsys.readouterr().err  # says what to do
    assert main(["osv", "fetch", "--url", server]) == 0
    conf = tomllib.loads((tmp_path / ".cpmap" / "cpmap.toml").read_text())
    assert conf["supplychain"]["osv_db"] == os.path.join(".cpmap", "osv", "PyPI", "all.zip")
    assert main(["scan", "deps", "-r", "requirements.txt"]) == 0


@pytest.mark.online
@pytest.mark.skipif(not os.environ.get("CPMAP_ONLINE"), reason="network test: CPMAP_ONLINE=1")
def test_fetch_the_public_pypi_export(tmp_path: Path) -> None:
    got = fetch("PyPI", tmp_path)
    assert got.records > 1000 and len(got.sha256) == 64
