"""Rate limits, failed-auth limits and query budgets sized from CP5 evidence, over HTTP;
Redis shared between two gateways, and fail-closed / fail-open when Redis is unreachable."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from cpmap.core.ledger import Ledger

from .conftest import rows

INFER = "/v2/models/digits/infer"


def _h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_rate_limit_gives_429_with_retry_after_and_ietf_headers(gated: Any, serve: Any,
                                                                key: Any) -> None:
    k = key(rate="3/minute")
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        ok = [c.post(INFER, json=rows(), headers=_h(k)) for _ in range(3)]
        assert [r.status_code for r in ok] == [200, 200, 200]
        assert '"rate";q=3;w=60' in ok[0].headers["ratelimit-policy"]
        assert '"rate";r=2;' in ok[0].headers["ratelimit"]
        r = c.post(INFER, json=rows(), headers=_h(k))
        assert r.status_code == 429 and "rate limit" in r.json()["error"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert '"rate";r=0;' in r.headers["ratelimit"]


def test_failed_authentications_are_limited_per_address(gated: Any, serve: Any,
                                                        key: Any) -> None:
    k = key()
    gw = serve(auth_fail_rate="3/minute")
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        codes = [c.post(INFER, json=rows(), headers=_h("guess")).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        r = c.post(INFER, json=rows(), headers=_h(k))  # even a good key, from that address
        assert r.status_code == 429 and "failed authentications" in r.json()["error"]
        assert int(r.headers["retry-after"]) >= 1


def test_budget_from_cp5_evidence_and_its_enforcement(ws: Any, gated: Any, serve: Any,
                                                      key: Any) -> None:
    full, default = key("full", output="full"), key("lab")
    gw = serve()
    plan = gw.app.plan
    assert str(plan.default_output) == "label"  # label kept fidelity lowest at 800 queries
    assert plan.per_output == {"probabilities": 100, "label": 400}  # 200 x 0.5, 800 x 0.5
    (entry,) = Ledger(ws).entries(kind="gateway-budget")
    assert entry.predicate["metrics"]["budget_queries"] == 400
    assert "stolen" in entry.predicate["details"]["reason"]
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        r = c.post(INFER, json=rows(1), headers=_h(default))
        assert r.json()["outputs"][0]["name"] == "label"
        assert c.post(INFER, json=rows(64), headers=_h(full)).status_code == 200
        r = c.post(INFER, json=rows(64), headers=_h(full))  # 128 rows > 100
        assert r.status_code == 429 and "query budget" in r.json()["error"]
        assert '"budget";q=100;w=86400' in r.headers["ratelimit-policy"]
    deadline = time.monotonic() + 10
    while not Ledger(ws).entries(kind="gateway-alert") and time.monotonic() < deadline:
        time.sleep(0.05)
    (alert,) = Ledger(ws).entries(kind="gateway-alert")
    assert alert.predicate["control"] == "CP8" and alert.predicate["details"]["client"] == "full"


def test_monthly_budget_spent_is_403(gated: Any, serve: Any, key: Any) -> None:
    k = key(budget="5/month")
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.post(INFER, json=rows(5), headers=_h(k)).status_code == 200
        assert c.post(INFER, json=rows(1), headers=_h(k)).status_code == 403


def test_no_cp5_evidence_uses_the_configured_default(ws: Any, tmp_path: Any,
                                                     model_bytes: bytes) -> None:
    from cpmap.gateway.budget import plan

    from .conftest import register_gated

    mv = register_gated(ws, tmp_path, model_bytes, name="plain", extraction=None)
    p = plan(ws, mv.digest, "1000/day", 0.5, "day")
    assert p.default_queries == 1000 and "no CP5 extraction evidence" in p.reason


def _redis_ok() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
        return True
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
def test_two_gateways_share_one_redis_count(gated: Any, serve: Any, key: Any) -> None:
    k = key(rate="4/minute")
    a = serve(redis_url="redis://127.0.0.1:6379/0")
    b = serve(redis_url="redis://127.0.0.1:6379/0")
    with httpx.Client(timeout=10) as c:
        codes = [c.post(gw.url + INFER, json=rows(), headers=_h(k)).status_code
                 for gw in (a, b, a, b, a, b)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_unreachable_redis_fails_closed_or_open(ws: Any, gated: Any, serve: Any,
                                                key: Any) -> None:
    k = key()
    closed = serve(redis_url="redis://127.0.0.1:1/0")
    r = httpx.post(closed.url + INFER, json=rows(), headers=_h(k), timeout=10)
    assert r.status_code == 503 and "fail closed" in r.json()["error"]
    opened = serve(redis_url="redis://127.0.0.1:1/0", fail_open=True)
    assert httpx.post(opened.url + INFER, json=rows(), headers=_h(k), timeout=10).is_success
    alerts = [e.predicate["details"]["alert"] for e in Ledger(ws).entries(kind="gateway-alert")]
    assert alerts == ["limits-fail-open"]


@pytest.mark.redis
@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
def test_redis_rate_and_budget_in_one_call_never_charge_a_refused_request(
        gated: Any, serve: Any, key: Any) -> None:
    import redis

    k = key(rate="2/minute", budget="1000/day")
    gw = serve(redis_url="redis://127.0.0.1:6379/0")
    quota = gw.app.quota
    budget_key = "cpmap-gw:" + quota.key(quota.parsed("1000/day"), ("budget", "digits", "alice"))
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        ok = [c.post(INFER, json=rows(3), headers=_h(k)) for _ in range(2)]
        assert [r.status_code for r in ok] == [200, 200]
        assert '"rate";r=0;' in ok[1].headers["ratelimit"]
        assert '"budget";r=994;' in ok[1].headers["ratelimit"]
        r = c.post(INFER, json=rows(3), headers=_h(k))
        assert r.status_code == 429 and "rate limit" in r.json()["error"]
    store = redis.Redis(host="127.0.0.1", port=6379, db=0)
    try:
        assert int(store.get(budget_key) or 0) == 6  # the refused request spent nothing
    finally:
        store.delete(budget_key)
        store.close()


@pytest.mark.redis
@pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")
@pytest.mark.parametrize("shared", [False, True])
def test_invalid_bodies_still_count_against_the_rate(gated: Any, serve: Any, key: Any,
                                                     shared: bool) -> None:
    k = key(rate="2/minute")
    gw = serve(redis_url="redis://127.0.0.1:6379/0" if shared else "")
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        bad = [c.post(INFER, content=b"{not json", headers={**_h(k), "Content-Type":
                                                             "application/json"})
               for _ in range(2)]
        assert [r.status_code for r in bad] == [400, 400]
        r = c.post(INFER, json=rows(), headers=_h(k))
        assert r.status_code == 429 and "rate limit" in r.json()["error"]
