"""Disk full under the SQLite store (a 2 MB tmpfs, or a file-size limit in a child process
where mounting is not permitted): a clean error, nothing acknowledged lost, nothing corrupted,
and appends work again once space is freed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.core.workspace import init
from cpmap.errors import Error
from gateway.conftest import run_cli

pytestmark = pytest.mark.slow


def _evidence(i: int) -> Evidence:
    return Evidence("CP1", "faults", [Subject(f"e-{i}", hashlib.sha256(str(i).encode())
                                              .hexdigest())], Verdict.PASS,
                    details={"pad": os.urandom(6000).hex()})  # ~16 KB an entry


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    vol = tmp_path / "vol"
    vol.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(vol)],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers it")
    try:
        yield vol
    finally:
        subprocess.run(["umount", "-l", str(vol)], timeout=30)


def test_disk_full_on_a_tmpfs(volume: Path, capsys: Any) -> None:
    ws = init(volume / "proj", "full")
    filler = volume / "filler"
    filler.write_bytes(b"\0" * 400_000)  # freed later, to show the store recovers
    acked: list[int] = []
    error: Error | None = None
    for i in range(400):
        try:
            acked.append(record(_evidence(i), ws).index)
        except Error as e:  # a cpmap error with one clear line, never an OSError/traceback
            error = e
            break
    assert error is not None and acked, "the volume never filled up"
    assert "full" in error.message or "No space" in error.message, error.message
    report = verify_ledger(Ledger(ws))
    assert report.size == len(acked)  # every acknowledged entry, and no half entry
    code, out, err = run_cli(capsys, "ledger", "verify", "-w", str(ws.root))
    assert code == 0, err
    filler.unlink()
    record(_evidence(10_000), ws)  # space is back: the same process appends again
    assert verify_ledger(Ledger(ws)).size == len(acked) + 1


CHILD = """
import hashlib, os, resource, signal, sys
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import open_workspace
from cpmap.errors import Error
ws = open_workspace(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
for i in range(1000):
    ev = Evidence("CP1", "faults", [Subject(f"c-{i}", hashlib.sha256(str(i).encode())
                  .hexdigest())], Verdict.PASS, details={"pad": os.urandom(6000).hex()})
    try:
        print(record(ev, ws).index, flush=True)
    except Error as e:
        print("ERROR", e.message.splitlines()[0], flush=True)
        sys.exit(0)
print("never failed", flush=True)
"""


def test_file_size_limit_in_a_child(tmp_path: Path) -> None:
    ws = init(tmp_path / "proj", "fsize")
    record(_evidence(-1), ws)
    db = tmp_path / "proj" / ".cpmap"
    size = max(p.stat().st_size for p in db.rglob("*") if p.is_file())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", CHILD, str(ws.root), str(size + 400_000)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1].startswith("ERROR"), lines[-3:]
    acked = [int(x) for x in lines[:-1]]
    report = verify_ledger(Ledger(ws))
    assert set(acked) <= set(range(report.size)) and report.size == len(acked) + 1
    record(_evidence(10_000), ws)  # without the limit the store takes appends again
    assert verify_ledger(Ledger(ws)).size == report.size + 1
