"""Two `cpmap serve` replicas on one PostgreSQL store and one Redis: the limit is shared (the
sum accepted never exceeds it), the prediction log and its ledger batches stay consistent,
and `cpmap ledger verify` passes after concurrent load."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cpmap.core.ledger import Ledger
from cpmap.gateway.keys import create
from cpmap.gateway.predlog import verify_batch
from cpmap.gateway.tables import gateway_predictions
from gateway.conftest import rows, run_cli

from .procs import load

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _redis_ok() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
        return True
    except OSError:
        return False


def logged(ws: Any) -> tuple[int, list[int]]:
    """(entries in the prediction log, its batches' ledger indexes), each batch verified."""
    batches = [e.index for e in Ledger(ws).entries(kind="gateway-predictions")]
    with ws.store.read() as conn:
        n = conn.execute(select(func.count()).select_from(gateway_predictions)).scalar_one()
        stored = {int(b) for (b,) in conn.execute(select(gateway_predictions.c.batch)
                                                  .distinct())}
    assert stored == set(batches), "a prediction-log batch without its ledger entry"
    assert all(verify_batch(ws, b) for b in batches)
    return int(n), batches


@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
def test_two_replicas_share_limits_and_one_consistent_log(gated_ws: Any, pg_url: str,
                                                          replicas: Any, capsys: Any) -> None:
    ws = gated_ws(pg_url)
    env = {"CPMAP_REDIS_URL": "redis://127.0.0.1:6379/0", "CPMAP_GATEWAY_PREDLOG_BATCH": "7",
           "CPMAP_GATEWAY_PREDLOG_INTERVAL_S": "0.5"}
    a, b = replicas(ws, **env), replicas(ws, **env)
    key = create(ws, "alice", ["infer:digits"], rate="50/hour")[0]
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
