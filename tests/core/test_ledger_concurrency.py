"""Real processes: concurrent appenders, and appenders killed with SIGKILL mid-write."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cpmap.core.ledger import Ledger, verify_ledger

APPENDER = """
import hashlib, sys
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import open_workspace
ws = open_workspace(sys.argv[1])
tag, count = sys.argv[2], int(sys.argv[3])
for i in range(count):
    entry = record(Evidence("CP1", "concurrency", [Subject(f"{tag}-{i}",
                   hashlib.sha256(f"{tag}-{i}".encode()).hexdigest())], Verdict.PASS), ws)
    print(entry.index, flush=True)
"""


def _spawn(ws: Any, tag: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ}
    if not ws.store.is_sqlite:
        env["CPMAP_DATABASE_URL"] = ws.store.url
    return subprocess.Popen([sys.executable, "-c", APPENDER, str(ws.root), tag, str(count)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_concurrent_appenders(any_ws: Any) -> None:
    procs = [_spawn(any_ws, f"p{i}", 15) for i in range(4)]
    acked: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        acked += [int(x) for x in out.split()]
    assert sorted(acked) == list(range(60))
    report = verify_ledger(Ledger(any_ws))
    assert report.size == 60 and report.checkpoints == 60


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_entry(any_ws: Any) -> None:
    rng = random.Random(1234)
    acked: set[int] = set()
    for round_ in range(4):
        procs = [_spawn(any_ws, f"r{round_}p{i}", 10_000) for i in range(2)]
        for p in procs:  # wait until each is appending (start-up is slow on a loaded machine)
            assert p.stdout is not None
            first = p.stdout.readline()
            assert first, p.stderr.read() if p.stderr else "appender exited"
            acked.add(int(first))
        time.sleep(0.05 + rng.random() * 0.6)
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            out, _ = p.communicate(timeout=60)
            acked |= {int(x) for x in out.split()}
        report = verify_ledger(Ledger(any_ws))
        present = set(range(report.size))
        assert acked <= present, f"lost acknowledged entries: {sorted(acked - present)[:5]}"
    assert acked, "the appenders never got to append"


def test_cli_reports_tampering_without_traceback(ws: Any, tmp_path: Path) -> None:
    from sqlalchemy import delete

    from cpmap.core.store import ledger_entries

    procs = [_spawn(ws, "x", 3)]
    procs[0].communicate(timeout=120)
    with ws.store.write() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.idx == 1))
    r = subprocess.run([sys.executable, "-m", "cpmap", "ledger", "verify", "-w", str(ws.root)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "ledger index 1" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
