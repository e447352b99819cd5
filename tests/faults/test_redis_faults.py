"""Redis stops during load (a private redis-server): fail closed (503, never 500) by default
and recover when it is back; with fail_open configured keep serving and raise one alert."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.gateway import build, run_in_thread
from cpmap.gateway.config import load as load_config
from cpmap.gateway.keys import create
from gateway.conftest import rows

from .procs import RedisServer, load

pytestmark = pytest.mark.slow


def _until_ok(url: str, key: str, timeout: float = 30.0) -> int:
    """Requests until one is answered 200 (Redis reconnected); how many were refused."""
    deadline = time.monotonic() + timeout
    refused = 0
    while time.monotonic() < deadline:
        r = httpx.post(url, json=rows(), headers={"X-API-Key": key}, timeout=10)
        if r.status_code == 200:
            return refused
        assert r.status_code == 503, r.text
        refused += 1
        time.sleep(0.1)
    raise AssertionError("the gateway did not recover after Redis came back")


@pytest.mark.parametrize("fail_open", [False, True])
def test_redis_stops_during_load(gated_ws: Any, tmp_path: Path, fail_open: bool) -> None:
    ws = gated_ws(None)
    redis = RedisServer(tmp_path)
    redis.start()
    key = create(ws, "alice", ["infer:digits"], rate="100000/hour",
                 budget="100000000/day")[0]
    gw = run_in_thread(build(ws, "digits@1", load_config(ws, env={}, redis_url=redis.url,
                                                          fail_open=fail_open,
                                                          redis_timeout_s=0.5)))
    try:
        before = load([gw.url], key, rows(), concurrency=4, total=40)
        assert before.codes == [200] * 40
        redis.stop()
        down = load([gw.url], key, rows(), concurrency=4, total=40)
        assert 500 not in down.codes and 0 not in down.codes
        alerts = [e.predicate["details"]["alert"] for e in
                  Ledger(ws).entries(kind="gateway-alert")]
        if fail_open:  # serving, unlimited, and said so once
            assert down.codes == [200] * 40
            assert alerts == ["limits-fail-open"]
        else:
            assert down.codes == [503] * 40 and alerts == []
            r = httpx.post(gw.url + "/v2/models/digits/infer", json=rows(),
                           headers={"X-API-Key": key}, timeout=10)
            assert "fail closed" in r.json()["error"] and "Traceback" not in r.text
        redis.start()  # the same port: the gateway reconnects without a restart
        _until_ok(gw.url + "/v2/models/digits/infer", key)
        after = load([gw.url], key, rows(), concurrency=4, total=40)
        assert after.codes == [200] * 40
    finally:
        gw.stop()
        redis.stop()
    assert verify_ledger(Ledger(ws)).size > 0
