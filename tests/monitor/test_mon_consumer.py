"""Detectors and alerts moved off the request path still fire at the same requests: a
scripted sequence (natural, noise, near-duplicate and mixup-extraction clients) judged inline
and on the consumer thread raises the same alerts, attributed to the same requests."""

from __future__ import annotations

from typing import Any

import numpy as np

from cpmap.core.workspace import Workspace
from cpmap.registry.manifest import ModelVersion


def _sequence(x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    seq = [("alice", x[i:i + 4]) for i in range(0, 200, 4)]
    seq += [("mallory", rng.uniform(0, 1, (32, 64)).astype(np.float32)) for _ in range(3)]
    seq += [("carol", (x[5] + rng.normal(0, 0.01, 64)).astype(np.float32)[None])
            for _ in range(20)]
    a, b = rng.integers(0, 20, (2, 512))
    lam = rng.uniform(0, 1, (512, 1)).astype(np.float32)
    mix = lam * x[:20][a] + (1 - lam) * x[:20][b]
    return seq + [("thief", mix[i:i + 16]) for i in range(0, 512, 16)]


def _run(ws: Workspace, version: ModelVersion, base: Any, x: np.ndarray,
         background: bool) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    from prometheus_client import CollectorRegistry

    from cpmap.gateway.served import load
    from cpmap.monitor.config import MonitorConfig
    from cpmap.monitor.live import Monitor

    model = load(ws, version.ref, allow_ungated=True).model
    registry = CollectorRegistry()
    mon = Monitor(ws, version.ref, version.digest, base, MonitorConfig(), registry,
                  background=background)
    logged = []
    for client, rows in _sequence(x):
        logged.append(mon.check(client, rows, model.predict_proba(rows), version.digest)[1])
    mon.drain()
    mon.close()
    fired = [(seq, a.kind, a.client, a.window, a.action, a.info) for seq, a in mon.fired]
    counts = {s.name + str(sorted(s.labels.items())): s.value for m in registry.collect()
              for s in m.samples if not s.name.endswith("_created")}
    return fired, {"logged": logged, "metrics": counts, "penalty": sorted(mon.penalty)}


def test_background_consumer_raises_the_inline_alerts_at_the_same_requests(
        ws: Workspace, version: ModelVersion, baseline: Any,
        digits_split: dict[str, Any]) -> None:
    x = digits_split["x_test"].astype(np.float32)
    inline, inline_state = _run(ws, version, baseline, x, background=False)
    queued, queued_state = _run(ws, version, baseline, x, background=True)
    assert queued == inline and queued_state == inline_state
    kinds = {(k, a) for _, k, _, _, a, _ in inline}
    # the noise client, the near-duplicate prober and the extraction client are all judged
    assert {("ood-probing", "throttle"), ("membership-probing", "throttle"),
            ("extraction", "throttle")} <= kinds, inline
    natural = [f for f in inline if f[0] <= 50 and f[1] != "ood-rate"]
    assert natural == [] or all(f[0] == 50 for f in natural), natural  # alice is never flagged
    assert inline_state["penalty"] and "alice" not in inline_state["penalty"]


def test_scorer_matches_the_detector(baseline: Any, digits_split: dict[str, Any]) -> None:
    from cpmap.monitor.ood import Scorer

    x = np.r_[digits_split["x_test"][:50], np.random.default_rng(1).uniform(0, 1, (20, 64))]
    x = x.astype(np.float32)  # what the gateway parses
    probs = np.random.default_rng(2).dirichlet(np.ones(10), size=len(x))
    scorer = Scorer(baseline.detector)
    fast, conf = scorer.score(x.astype(np.float32), probs)
    ref, ref_conf = baseline.detector.score(x.astype(np.float64), probs)
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(conf, ref_conf)
    ones = np.array([scorer.score_one(r, p) for r, p in zip(x, probs, strict=True)])
    np.testing.assert_allclose(ones[:, 0], ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(ones[:, 1], ref_conf)


def test_consumer_keeps_order_survives_a_failing_event_and_bounds_its_backlog(
        monkeypatch: Any) -> None:
    from cpmap.monitor import consumer as cm

    seen: list[int] = []

    def process(event: Any) -> None:
        if event[0] == 3:
            raise RuntimeError("bad event")
        seen.append(event[0])

    c = cm.Consumer(process)
    for i in range(1, 201):
        c.put((i, "c", None, None, None, None, 0.0, False, False))
    c.drain()
    assert seen == [i for i in range(1, 201) if i != 3] and c.done == 200
    c.close()
    monkeypatch.setattr(cm, "MAX_BACKLOG", 0)  # a consumer that cannot keep up drops, counted
    full = cm.Consumer(process)
    full.put((1, "c", None, None, None, None, 0.0, False, False))
    assert full.dropped == 1 and full.put_count == 0
