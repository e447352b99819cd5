"""A bounded load test across two replicas on one PostgreSQL store and one Redis: fixed
concurrency for a fixed time, error rate 0, no 5xx, p99 reported, every request logged."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from cpmap.gateway.keys import create
from gateway.conftest import rows, run_cli

from .procs import load, logged

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
SECONDS = float(os.environ.get("CPMAP_LOAD_SECONDS", "15"))


def _redis_ok() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
def test_load_across_two_replicas(gated_ws: Any, pg_url: str, replicas: Any,
                                  capsys: Any) -> None:
    ws = gated_ws(pg_url)
    key = create(ws, "loadtest", ["infer:digits"], rate="1000000/hour",
                 budget="100000000/day")[0]  # the load test measures, it does not extract
    env = {"CPMAP_REDIS_URL": "redis://127.0.0.1:6379/0"}
    a, b = replicas(ws, **env), replicas(ws, **env)
    seen = load([a.url, b.url], key, rows(4), concurrency=16, seconds=SECONDS)
    with capsys.disabled():
        print(f"\nload: {len(seen.codes)} requests in {SECONDS:.0f} s at concurrency 16 over "
              f"2 replicas ({len(seen.codes) / SECONDS:.0f}/s), p99 {seen.p99_ms():.1f} ms, "
              f"errors {sum(1 for c in seen.codes if c != 200)}")
    assert seen.codes and set(seen.codes) == {200}, sorted(set(seen.codes))  # error rate 0
    for r in (a, b):
        assert "Traceback" not in r.stop()
    n, _ = logged(ws)
    assert n == len(seen.codes)
    code, _, err = run_cli(capsys, "ledger", "verify", "-w", str(ws.root))
    assert code == 0, err
