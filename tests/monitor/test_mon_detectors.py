"""Streaming detectors alert on sustained periods, not on one request; log retention."""

from __future__ import annotations

import time

import numpy as np

from cpmap.core.workspace import Workspace
from cpmap.monitor.detectors import Detectors
from cpmap.monitor.predlog import client_key, query, write_rows


def _run(det: Detectors, conf: np.ndarray, ood: np.ndarray) -> list[str]:
    return [c.kind for c, o in zip(conf, ood, strict=True)
            for c in det.update("model", float(c), bool(o))]


def test_natural_stream_raises_nothing() -> None:
    rng = np.random.default_rng(0)
    det = Detectors(0.93, 0.7, 0.01)
    conf = np.clip(rng.normal(0.93, 0.06, 3000), 0, 1)
    assert _run(det, conf, rng.random(3000) < 0.01) == []


def test_one_bad_request_is_not_an_alert_but_a_sustained_drop_is() -> None:
    rng = np.random.default_rng(1)
    det = Detectors(0.93, 0.7, 0.01)
    conf = np.clip(rng.normal(0.93, 0.05, 500), 0, 1)
    conf[250] = 0.1
    assert _run(det, conf, np.zeros(500, bool)) == []
    low = np.clip(rng.normal(0.55, 0.1, 200), 0, 1)
    assert "low-confidence" in _run(det, low, np.zeros(200, bool))


def test_sustained_ood_rate() -> None:
    rng = np.random.default_rng(2)
    det = Detectors(0.93, 0.7, 0.01)
    conf = np.full(800, 0.9)
    ood = np.r_[rng.random(400) < 0.01, rng.random(400) < 0.3]
    kinds = _run(det, conf, ood)
    assert kinds.count("ood-rate") >= 1


def test_rows_past_the_retention_are_deleted(ws: Workspace) -> None:
    now = time.time()
    entries = [{"id": "old", "ts": now - 3 * 86400, "status": 200, "client": "a"},
               {"id": "new", "ts": now, "status": 200, "client": "a", "confidence": 0.9,
                "ood": False, "ood_score": 0.2}]
    with ws.store.write() as conn:
        write_rows(conn, 1, entries, "m@1", "0" * 64, client_key(ws), retention_days=1)
    rows = query(ws, "m")
    assert [r["request_id"] for r in rows] == ["new"]
    assert rows[0]["client"] != "a" and query(ws, "m", client="a")[0]["request_id"] == "new"
