"""The probing detector across two gateway replicas on one Redis: a client that spreads its
queries over both is judged on all of them (state in Redis, keys unique to the workspace)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from cpmap.core.workspace import Workspace
from cpmap.registry.manifest import ModelVersion

from .conftest import oip

REDIS = "redis://127.0.0.1:6379/0"
ALERT = 'cpmap_monitor_alerts_total{kind="membership-probing"}'


def _redis_ok() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
        return True
    except OSError:
        return False


def _probe(gateways: list[Any], key: str, record: np.ndarray, per_replica: int) -> None:
    """Near-duplicates of one record, one row a request, alternating between replicas."""
    rng = np.random.default_rng(3)
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {key}"}) as c:
        for i in range(per_replica * len(gateways)):
            row = np.clip(record + rng.normal(0, 1e-4, record.shape), 0, None)[None, :]
            r = c.post(f"{gateways[i % len(gateways)].url}/v2/models/digits/infer",
                       json=oip(row))
            assert r.status_code == 200, r.text


def _alerts(gw: Any) -> float:
    gw.app.monitor.drain()  # the consumer thread has judged every request, alerts recorded
    for line in gw.app.metrics.render().decode().splitlines():
        if line.startswith(ALERT):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.redis
@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
@pytest.mark.parametrize("shared", [True, False])
def test_a_prober_spread_over_two_replicas_is_still_flagged(
        ws: Workspace, version: ModelVersion, baseline: Any, serve_mon: Callable[..., Any],
        key: Callable[..., str], digits_split: dict[str, Any], shared: bool) -> None:
    assert baseline.probing.dup_limit == 8
    k = key("mallory", budget="100000/day", rate="10000/minute")
    monitoring = {"probing_action": "alert"}
    redis_url = REDIS if shared else ""
    a = serve_mon(monitoring=monitoring, redis_url=redis_url)
    b = serve_mon(monitoring=monitoring, redis_url=redis_url)
    try:
        # 7 rows on each replica: 6 near-duplicates each, under the limit of 8 on its own;
        # 13 in the shared stream
        _probe([a, b], k, digits_split["x_test"][0], per_replica=7)
        total = _alerts(a) + _alerts(b)
        if shared:
            assert total >= 1
            seen = [g.app.monitor.probing.rows_seen("mallory") for g in (a, b)]
            # each replica's consumer judged its last request on the shared count: the one
            # judged last saw all 14 rows, the other at least its own 7
            assert max(seen) == 14 and min(seen) >= 7, seen
        else:
            assert total == 0
            assert a.app.monitor.probing.rows_seen("mallory") == 7
    finally:
        if shared:
            a.app.monitor.probing.store.forget("mallory")


def test_an_unreachable_store_falls_back_to_this_replicas_state(
        caplog: pytest.LogCaptureFixture) -> None:
    from cpmap.monitor.probestore import RedisProbeStore
    from cpmap.monitor.probing import ProbeDetector, ProbeSettings

    det = ProbeDetector(ProbeSettings(1.0, 0.5, 0.01, 0.01, 0.05), 0.01)
    det.store = RedisProbeStore("redis://127.0.0.1:1/0", "cpmap-probe:test", timeout=0.2)
    x = np.zeros((1, 4))
    probs = np.array([[0.9, 0.1]])
    for _ in range(10):  # the same row again and again: near-duplicates, judged locally
        signals = det.observe("c", x, probs, np.zeros(1, dtype=bool))
    assert det.rows_seen("c") == 10 and det.clients["c"].dups.count == 9
    assert [s.kind for s in signals] == ["membership-probing"]
    assert sum("probing state store failed" in r.message for r in caplog.records) == 1
