"""The store fails under load: PostgreSQL crashes and restarts (a private cluster), a replica
is killed with SIGKILL. No acknowledged ledger entry or prediction-log batch is lost, nothing
is half-written, the gateway recovers without a restart and never answers 500."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.gateway.keys import create
from gateway.conftest import rows, run_cli

from .procs import Load, PgServer, load, logged

pytestmark = pytest.mark.slow

APPENDER = """
import hashlib, sys, time
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import open_workspace
from cpmap.errors import StoreError
ws = open_workspace(sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < deadline:
    ev = Evidence("CP1", "faults", [Subject(f"a-{i}", hashlib.sha256(str(i).encode())
                  .hexdigest())], Verdict.PASS)
    try:
        print(record(ev, ws).index, flush=True)  # printed only once committed
        i += 1
    except StoreError as e:
        print("store-error", str(e).splitlines()[0][:60], file=sys.stderr, flush=True)
        time.sleep(0.1)
"""


def _background_load(urls: list[str], key: str, seconds: float, out: list[Load]) -> Any:
    t = threading.Thread(target=lambda: out.append(load(urls, key, rows(), concurrency=4,
                                                        seconds=seconds)))
    t.start()
    return t


@pytest.fixture
def pg() -> Any:
    try:
        server = PgServer()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"cannot create a private PostgreSQL cluster: {e}")
    server.start()
    yield server
    server.remove()


def test_postgres_restarts_during_load(gated_ws: Any, pg: Any, replicas: Any,
                                       capsys: Any) -> None:
    ws = gated_ws(pg.url)
    key = create(ws, "alice", ["infer:digits"], rate="100000/hour",
                 budget="100000000/day")[0]
    gw = replicas(ws, CPMAP_GATEWAY_PREDLOG_BATCH="5", CPMAP_GATEWAY_PREDLOG_INTERVAL_S="0.3")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "CPMAP_DATABASE_URL": pg.url}
    appender = subprocess.Popen([sys.executable, "-c", APPENDER, str(ws.root), "25"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
    assert appender.stdout is not None
    first = appender.stdout.readline()  # appending before the crash (start-up can be slow)
    assert first.strip().isdigit(), appender.stderr.read() if appender.stderr else first
    seen: list[Load] = []
    t = _background_load([gw.url], key, 10, seen)
    time.sleep(3)
    pg.crash()  # immediate: like a power cut; the restart replays the WAL
    time.sleep(2)
    pg.start()
    t.join(60)
    out, err = appender.communicate(timeout=90)
    assert appender.returncode == 0, err
    acked = [int(first)] + [int(x) for x in out.split()]
    assert "store-error" in err  # the appender did see the store go away
    (during,) = seen
    assert set(during.codes) <= {200, 503}, (sorted(set(during.codes)), during.bodies[:5])
    assert during.count(200) > 0
    after = load([gw.url], key, rows(), concurrency=2, total=10)  # no restart needed
    assert after.codes == [200] * 10
    stderr = gw.stop()
    assert "Traceback" not in stderr and "prediction log flush failed" in stderr
    present = set(range(verify_ledger(Ledger(ws)).size))
    assert set(acked) <= present, f"lost acknowledged entries {sorted(set(acked) - present)}"
    n, _ = logged(ws)
    assert n == len(during.codes) + 10  # every answered request, none lost, none twice
    code, _, err = run_cli(capsys, "ledger", "verify", "-w", str(ws.root))
    assert code == 0, err


def test_kill_9_of_a_replica_under_load(gated_ws: Any, replicas: Any, capsys: Any) -> None:
    ws = gated_ws(None)  # two processes on one SQLite store
    key = create(ws, "alice", ["infer:digits"], rate="100000/hour",
                 budget="100000000/day")[0]
    env = {"CPMAP_GATEWAY_PREDLOG_BATCH": "3", "CPMAP_GATEWAY_PREDLOG_INTERVAL_S": "0.2"}
    a, b = replicas(ws, **env), replicas(ws, **env)
    seen: list[Load] = []
    t = _background_load([a.url, b.url], key, 6, seen)
    time.sleep(3)
    b.stop(signal.SIGKILL)
    t.join(60)
    (during,) = seen
    assert 500 not in during.codes  # the dead replica's requests fail to connect (status 0)
    assert a.stop(signal.SIGTERM).count("Traceback") == 0
    report = verify_ledger(Ledger(ws))
    n, batches = logged(ws)  # nothing half-written: every stored batch has its signed root
    assert report.size > len(batches) > 0 and n > 0
    code, _, err = run_cli(capsys, "ledger", "verify", "-w", str(ws.root))
    assert code == 0, err
