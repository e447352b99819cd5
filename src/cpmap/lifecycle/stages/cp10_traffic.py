"""Traffic for the CP10 canary: many clients on a live gateway with the canary route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.retrain.canary import Canary


def _production_gateway(ws: Workspace, name: str) -> tuple[Any, str]:
    """The production gateway. Production is what the drift alert is about, so its gate now
    fails on CP9 (while CP9 is a planned control, failing evidence fails it); it keeps
    serving while its replacement is judged, which the unsafe override records. Any other
    gate failure refuses, as always."""
    from cpmap.gateway import build
    from cpmap.gateway.config import load
    from cpmap.gateway.errors import ServeRefused

    cfg = load(ws, env={}, key_refresh_s=0.2)
    try:
        return build(ws, name, cfg), ""
    except ServeRefused as e:
        if not e.reasons or not all(r.startswith("CP9") for r in e.reasons):
            raise
        return build(ws, name, cfg, allow_ungated=True), (
            "production served on while the alert about it is handled (its gate fails only "
            "on CP9: " + e.reasons[0] + "; recorded as an unsafe serve)")


def traffic(ws: Workspace, name: str, clients: int = 60) -> tuple[Canary, str]:
    """Serve production with the active canary, send each client two held-out digits."""
    import httpx

    from cpmap.builtin import digits
    from cpmap.errors import InputError
    from cpmap.gateway import run_in_thread
    from cpmap.gateway.keys import create
    from cpmap.retrain.rollout import attach

    gw, note = _production_gateway(ws, name)
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
    return canary, note
