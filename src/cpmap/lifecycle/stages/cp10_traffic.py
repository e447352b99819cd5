"""Traffic for the CP10 canary: many clients on a live gateway with the canary route.

The legitimate traffic is natural test data: the held-out split of production's training
data (the rows the canary's golden-set comparison scores, which neither version trained on),
two rows per client, so CP8's monitor (each version scored against its own baseline) has no
reason to flag it. After a promotion the same gateway reloads (re-verified, re-gated) and
serves the new production version, which its own baseline now monitors: a user's held-out
digits pass, a prober's uniform noise is flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gateway.app import Gateway
    from cpmap.retrain.canary import Canary


def _production_gateway(ws: Workspace, name: str) -> tuple[Gateway, str]:
    """The production gateway. Its gate decides from evidence about production's own digest;
    should it fail only on CP9 (failing evidence about production, which the retraining run
    answers), production keeps serving while its replacement is judged, which the unsafe
    override records. Any other gate failure refuses, as always."""
    from cpmap.gateway import build
    from cpmap.gateway.config import load
    from cpmap.gateway.errors import ServeRefused

    cfg = load(ws, env={}, key_refresh_s=0.2, predlog_batch=16, predlog_interval_s=0.2)
    try:
        return build(ws, name, cfg), ""
    except ServeRefused as e:
        if not e.reasons or not all(r.startswith("CP9") for r in e.reasons):
            raise
        return build(ws, name, cfg, allow_ungated=True), (
            "production served on while the alert about it is handled (its gate fails only "
            "on CP9: " + e.reasons[0] + "; recorded as an unsafe serve)")


def _post(c: Any, name: str, key: str, rows: np.ndarray) -> int:
    r = c.post(f"/v2/models/{name}/infer", headers={"X-API-Key": key}, json={
        "inputs": [{"name": "input", "datatype": "FP32", "shape": list(rows.shape),
                    "data": rows.ravel().tolist()}]})
    return int(r.status_code)


def serve(ws: Workspace, name: str) -> tuple[Gateway, Canary, str]:
    """Production's gateway with the active canary attached (not started)."""
    from cpmap.errors import InputError
    from cpmap.retrain.rollout import attach

    gw, note = _production_gateway(ws, name)
    canary = attach(gw, ws)
    if canary is None:
        raise InputError(f"{name}: no canary rollout to send traffic to")
    return gw, canary, note


def canary_traffic(ws: Workspace, gw: Gateway, url: str, name: str, x: np.ndarray,
                   clients: int = 60) -> dict[int, int]:
    """Each of ``clients`` sends two held-out rows; the HTTP statuses counted."""
    import httpx

    from cpmap.gateway.keys import create

    keys = [create(ws, f"canary-client-{i}", [f"infer:{name}"], "1000/minute")[0]
            for i in range(clients)]
    gw.keyring.load(ws)
    codes: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=10) as c:
        for i, key in enumerate(keys):
            code = _post(c, name, key, x[(2 * i) % len(x):][:2])
            codes[code] = codes.get(code, 0) + 1
    return codes


def after_promotion(ws: Workspace, gw: Gateway, url: str, name: str, x: np.ndarray
                    ) -> tuple[list[str], bool]:
    """Reload the gateway onto the promoted version; a user sends held-out digits, a prober
    uniform noise; what the new version's own baseline flagged. (lines, as expected)"""
    import httpx

    from cpmap.gateway.keys import create

    gw.canary = None  # the rollout is closed: no more routing
    fresh = gw.reload()
    mon = gw.monitor
    v = None if mon is None else mon._version(fresh.digest)
    if mon is None or v is None:
        return [f"reloaded onto {fresh.ref}: no CP8 baseline about it, not monitored"], False
    base, probing = v.base, v.probing
    keys = {c: create(ws, f"promoted-{c}", [f"infer:{name}"], "1000/minute")[0]
            for c in ("user", "prober")}
    gw.keyring.load(ws)
    noise = np.random.default_rng(10).uniform(0, 1, (64, x.shape[1])).astype(np.float32)
    refused = 0
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(0, 64, 16):
            _post(c, name, keys["user"], x[-64:][i:i + 16])
            refused += _post(c, name, keys["prober"], noise[i:i + 16]) != 200

    mon.drain()  # the detectors judge on the monitor's consumer thread

    def seen(client: str) -> tuple[int, int]:
        st = probing.clients.get(f"promoted-{client}")
        return (0, 0) if st is None else (int(st.ood.count), len(st.ood))

    (uf, us), (pf, ps) = seen("user"), seen("prober")
    lines = [f"reloaded onto {fresh.ref}, monitored with its own baseline #{base.entry}: "
             f"a user's held-out digits {uf}/{us} rows flagged; a prober's uniform noise "
             f"{pf}/{ps} rows flagged" + (f", then throttled ({refused} requests refused)"
                                          if refused else "")]
    return lines, us == 64 and ps > 0 and pf == ps and uf <= 0.1 * us


def flagged(ws: Workspace, ref: str, client: str, since_s: float) -> tuple[int, int]:
    """(requests flagged OOD, requests scored) of ``client`` on ``ref`` in the last
    ``since_s`` seconds, from the prediction log."""
    from cpmap.monitor.predlog import query

    rows = [r for r in query(ws, ref, client=client, since_s=since_s)
            if r.get("ood") is not None]
    return sum(1 for r in rows if r["ood"]), len(rows)
