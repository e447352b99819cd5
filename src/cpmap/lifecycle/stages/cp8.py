"""CP8 stage: the production gateway with monitoring on, under natural and hostile traffic.

It needs CP6's ``registry_model`` in production (the CP7 stage promotes it, with the CP8
baseline production requires). The version is served on a free 127.0.0.1 port with
``policy = "flag"`` and ``probing_action = "throttle"``; a user sends natural digits, another
client uniform noise, a third PGD adversarial digits (crafted on the model's own gradients,
CP4's attack), and an extraction prober mixups of a few digits as CP5's attacker does. The
stage shows what was flagged, the alert, the throttle, and ``cpmap monitor status``; the
window is recorded as CP8 evidence (with its plot) for the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cpmap.lifecycle.context import Context, StageResult


def run(ctx: Context) -> StageResult:
    from cpmap.errors import Error

    name = ctx.artifacts.registry_model
    try:
        lines, ok = _run(ctx, name)
    except Error as e:
        return StageResult("CP8", False, (f"monitoring stage failed: {e.diagnostics()}",))
    return StageResult("CP8", ok, tuple(lines))


def _run(ctx: Context, name: str) -> tuple[list[str], bool]:
    from cpmap.cli.monitor_live import format_status
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load
    from cpmap.gateway.keys import create
    from cpmap.lifecycle.data import digits_ref
    from cpmap.models.datasets import load_dataset
    from cpmap.monitor.status import record_summary, summarize

    ws = ctx.ws
    unlimited = {"rate": "100000/minute", "budget": "1000000/day"}
    keys = {c: create(ws, f"demo-{c}", [f"infer:{name}"], **unlimited)[0]
            for c in ("user", "noise", "adversary", "prober")}
    saved = ws.config.get("monitoring")
    ws.config["monitoring"] = {"policy": "flag", "probing_action": "throttle"}
    try:
        app = build(ws, name, load(ws, key_refresh_s=0.2, predlog_batch=64,
                                   predlog_interval_s=0.2))
    finally:
        if saved is None:
            ws.config.pop("monitoring", None)
        else:
            ws.config["monitoring"] = saved
    mon = app.monitor
    if mon is None or mon.base is None:
        return [f"{name}: no baseline to monitor with"], False
    ds = load_dataset(digits_ref(ctx), ws, purpose="CP8 demo traffic")
    rng = np.random.default_rng(0)
    x = ds.x[rng.permutation(len(ds.x))[:320]].astype(np.float32)
    running = run_in_thread(app)
    try:
        lines, counts = _traffic(running.url, app, name, keys, x, ds.y, rng)
    finally:
        running.stop()
    mon.drain()
    status = summarize(ws, app.served.ref)
    entry = record_summary(ws, app.served.ref)
    lines += [f"  {line}" for line in format_status(status).splitlines()]
    lines.append(f"monitor summary recorded (#{entry}); `cpmap monitor alerts` lists "
                 f"{status['alerts']} alert(s)")
    user, noisy = counts["user"], counts["noise"]
    ok = (user[1] == 256 and user[0] <= 0.05 * 256 and noisy[1] > 0 and noisy[0] == noisy[1]
          and counts["prober_alert"] is not None and counts["throttled"])
    return lines, bool(ok)


def _send(c: Any, path: str, key: str, x: np.ndarray) -> Any:
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                        "data": x.ravel().tolist()}]}
    return c.post(path, json=body, headers={"Authorization": f"Bearer {key}"})


def _flagged(app: Any, client: str) -> tuple[int, int]:
    """(flagged, scored) rows of ``client`` (from the probing state: its last 256 rows)."""
    st = app.monitor.probing.clients.get(client)
    return (0, 0) if st is None else (st.ood.count, len(st.ood))


def _traffic(url: str, app: Any, name: str, keys: dict[str, str], x: np.ndarray,
             y: np.ndarray, rng: np.random.Generator) -> tuple[list[str], dict[str, Any]]:
    import httpx

    path = f"/v2/models/{name}/infer"
    adv = _adversarial(app, x[:64], y)
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(0, 256, 16):
            _send(c, path, keys["user"], x[i:i + 16])
        noise = rng.uniform(0, 1, (64, x.shape[1])).astype(np.float32)
        for i in range(0, 64, 16):
            _send(c, path, keys["noise"], noise[i:i + 16])
        for i in range(0, len(adv), 16):
            _send(c, path, keys["adversary"], adv[i:i + 16])
        pool = x[256:276]  # a prober holding 20 digits, synthesising the rest (CP5's mixups)
        a, b = rng.integers(0, len(pool), (2, 1024))
        lam = rng.uniform(0, 1, (1024, 1)).astype(np.float32)
        mix = lam * pool[a] + (1 - lam) * pool[b]
        sent, code = 0, 200
        for i in range(0, 1024, 32):
            code = _send(c, path, keys["prober"], mix[i:i + 32]).status_code
            if code != 200:
                break
            sent += 32
    app.monitor.drain()
    alert = next((a for a in app.monitor.sink.raised
                  if a.action == "throttle"), None)
    user, noisy, adv_f = (_flagged(app, f"demo-{c}") for c in ("user", "noise", "adversary"))
    counts = {"user": user, "noise": noisy, "adv": adv_f, "prober_alert": alert,
              "throttled": code == 429}

    def shown(f: tuple[int, int], sent: int) -> str:
        rest = f", then throttled ({sent - f[1]} rows refused)" if f[1] < sent else ""
        return f"{f[0]}/{f[1]} scored rows flagged{rest}"

    lines = [f"monitored production {app.served.ref} on {url} (baseline "
             f"#{app.monitor.base.entry}, {app.monitor.base.target_fpr:.0%} target false alarms)",
             f"natural digits: {shown(user, 256)}",
             f"uniform noise: {shown(noisy, 64)}",
             f"PGD adversarial digits (eps 0.1, on the model's gradients): "
             f"{shown(adv_f, len(adv))}"]
    if alert is not None:
        seen = alert.info.get("rows_seen")
        lines.append(f"prober: alert {alert.kind} ({alert.atlas}) after {seen} rows: "
                     f"{alert.message}; then HTTP {code} (throttled) after {sent} rows")
    else:
        lines.append(f"prober: not flagged in {sent} rows")
    return lines, counts


def _adversarial(app: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PGD examples against the served model's own gradients (CP4's attack)."""
    module = getattr(app.served.model, "module", None)
    if module is None:
        return np.zeros((0, x.shape[1]), dtype=np.float32)
    import torch

    from cpmap.robustness.attacks import pgd

    xt = torch.as_tensor(x)
    with torch.no_grad():
        labels = module(xt).argmax(1)
    out: np.ndarray = pgd(module, xt, labels, 0.1, steps=10).numpy().astype(np.float32)
    return out
