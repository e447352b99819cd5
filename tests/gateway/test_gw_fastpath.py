"""The request path's cheap parts: in-memory fixed windows, and a fast model run inline on
the event loop while a slow one (or a timed-out one) goes back to the worker pool."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from cpmap.gateway.quota import LocalCounters

from .conftest import rows

INFER = "/v2/models/digits/infer"


def test_local_counters_are_fixed_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    c = LocalCounters()
    assert c.incr("a", 1, 60) == (1, 60.0)
    now[0] = 130.0
    assert c.incr("a", 2, 60) == (3, 30.0)  # same window: the end does not move
    now[0] = 160.0
    assert c.incr("a", 1, 60) == (1, 60.0)  # the window ended: a new one starts


def test_local_counters_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    c = LocalCounters(max_keys=3)
    for k in ("a", "b", "c"):
        c.incr(k, 1, 10)
    now[0] = 20.0  # all three ended: swept when a fourth key arrives
    c.incr("live", 1, 100)
    assert set(c._slots) == {"live"}
    for k in ("x", "y"):
        c.incr(k, 1, 100)
    c.incr("z", 1, 100)  # every window live and full: dropped rather than grown
    assert len(c._slots) <= 3


def _threads(gw: Any) -> list[str]:
    """Record which thread runs each prediction."""
    model = gw.app.served.model
    seen: list[str] = []
    real = model.predict_proba

    def spy(x: Any) -> Any:
        seen.append(threading.current_thread().name)
        if getattr(model, "slow", False):
            time.sleep(0.5)  # far over the test's inline limit, whatever the machine's load
        return real(x)

    model.predict_proba = spy
    return seen


def test_fast_model_runs_inline_and_a_slow_call_returns_to_the_pool(
        gated: Any, serve: Any, key: Any) -> None:
    k = key()
    gw = serve(inline_predict_ms=100)  # the tiny model's call fits even on a loaded machine
    seen = _threads(gw)
    with httpx.Client(base_url=gw.url, timeout=10, headers={"X-API-Key": k}) as c:
        for _ in range(3):
            assert c.post(INFER, json=rows()).status_code == 200
        assert seen[0].startswith("cpmap-model")  # first call: measured in the pool
        assert seen[1:] == ["cpmap-gateway", "cpmap-gateway"]  # then inline (fast)
        gw.app.served.model.slow = True
        assert c.post(INFER, json=rows()).status_code == 200  # inline, measured slow
        assert c.post(INFER, json=rows()).status_code == 200
        assert seen[3] == "cpmap-gateway" and seen[4].startswith("cpmap-model")
        assert c.post(INFER, json=rows(9)).status_code == 200  # over inline_max_rows
        assert seen[5].startswith("cpmap-model")


def test_inline_off_keeps_every_call_in_the_pool(gated: Any, serve: Any, key: Any) -> None:
    k = key()
    gw = serve(inline_predict_ms=0)
    seen = _threads(gw)
    with httpx.Client(base_url=gw.url, timeout=10, headers={"X-API-Key": k}) as c:
        for _ in range(3):
            assert c.post(INFER, json=rows()).status_code == 200
    assert all(t.startswith("cpmap-model") for t in seen)


def test_the_listening_socket_names_tcp_so_responses_are_not_delayed() -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only when their ``proto`` is TCP; the
    accepted socket inherits the listening socket's. Without it every response waited on
    Nagle's algorithm and delayed ACKs (~40 ms each)."""
    import asyncio
    import socket

    from cpmap.gateway.server import free_socket

    sock = free_socket()
    sock.listen()
    try:
        assert sock.proto == socket.IPPROTO_TCP

        async def nodelay() -> int:
            conn = await asyncio.get_running_loop().run_in_executor(None, sock.accept)
            _, writer = await asyncio.open_connection(sock=conn[0])
            flag = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                               socket.TCP_NODELAY)
            writer.close()
            return int(flag)

        client = socket.create_connection(sock.getsockname(), 5)
        try:
            assert asyncio.run(nodelay()) != 0
        finally:
            client.close()
    finally:
        sock.close()
