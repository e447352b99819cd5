"""Two `cpmap serve` replicas on one PostgreSQL store and one Redis: the limit is shared (the
sum accepted never exceeds it), the prediction log and its ledger batches stay consistent,
and `cpmap ledger verify` passes after concurrent load."""

from __future__ import annotations

from typing import Any

import pytest

from cpmap.core.ledger import Ledger
from cpmap.gateway.keys import create
from gateway.conftest import rows, run_cli

from .procs import load, logged

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _redis_ok() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
def test_two_replicas_share_limits_and_one_consistent_log(gated_ws: Any, pg_url: str,
                                                          replicas: Any, capsys: Any) -> None:
    ws = gated_ws(pg_url)
    env = {"CPMAP_REDIS_URL": "redis://127.0.0.1:6379/0", "CPMAP_GATEWAY_PREDLOG_BATCH": "7",
           "CPMAP_GATEWAY_PREDLOG_INTERVAL_S": "0.5"}
    key = create(ws, "alice", ["infer:digits"], rate="50/hour")[0]  # before the replicas load
    a, b = replicas(ws, **env), replicas(ws, **env)
    seen = load([a.url, b.url], key, rows(), concurrency=12, total=160)
    assert seen.count(200) == 50, seen.codes  # never more than the limit, across replicas
    assert seen.count(429) == 110 and len(seen.codes) == 160
    for r in (a, b):
        err = r.stop()
        assert "Traceback" not in err, err
    n, batches = logged(ws)
    assert n == 160  # every answered request, refused ones too, is in the log
    sizes = [Ledger(ws).get(i).predicate["metrics"]["entries"] for i in batches]
    assert sum(sizes) == 160 and max(sizes) <= 7
    code, out, err = run_cli(capsys, "ledger", "verify", "-w", str(ws.root))
    assert code == 0, err
