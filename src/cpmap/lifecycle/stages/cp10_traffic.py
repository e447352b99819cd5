"""Traffic for the CP10 canary: many clients on a live gateway with the canary route."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.retrain.canary import Canary


def traffic(ws: Workspace, name: str, clients: int = 60) -> Canary:
    """Serve production with the active canary, send each client two held-out digits."""
    import httpx

    from cpmap.builtin import digits
    from cpmap.errors import InputError
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load
    from cpmap.gateway.keys import create
    from cpmap.retrain.rollout import attach

    gw = build(ws, name, load(ws, env={}, key_refresh_s=0.2))
    canary = attach(gw, ws)
    if canary is None:
        raise InputError(f"{name}: no canary rollout to send traffic to")
    keys = [create(ws, f"canary-client-{i}", [f"infer:{name}"], "1000/minute")[0]
            for i in range(clients)]
    gw.keyring.load(ws)
    running = run_in_thread(gw)
    x, _ = digits()
    try:
        with httpx.Client(base_url=running.url, timeout=10) as c:
            for i, key in enumerate(keys):
                rows = x[-(2 * i + 2):][:2] if i else x[-2:]
                c.post(f"/v2/models/{name}/infer", headers={"X-API-Key": key}, json={
                    "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 64],
                                "data": rows.ravel().tolist()}]})
    finally:
        running.stop()
    return canary
