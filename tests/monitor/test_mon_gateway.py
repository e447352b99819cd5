"""The monitor inside a real gateway on 127.0.0.1: policies, the monitored log and the CLI,
and the refusal of a baseline that is not about the version served."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cpmap.core.workspace import Workspace
from cpmap.registry.manifest import ModelVersion

from .conftest import oip, run_cli


def _post(url: str, key: str, x: np.ndarray) -> httpx.Response:
    return httpx.post(f"{url}/v2/models/digits/infer", json=oip(x), timeout=10,
                      headers={"Authorization": f"Bearer {key}"})


def test_refuse_policy_is_neutral_and_everything_is_logged(
        ws: Workspace, version: ModelVersion, baseline: Any, serve_mon: Callable[..., Any],
        key: Callable[..., str], digits_split: dict[str, Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    k = key("alice", budget="100000/day", rate="10000/minute")
    gw = serve_mon(monitoring={"policy": "refuse", "probing_action": "alert"},
                   predlog_batch=4, predlog_interval_s=0.2)
    ok = _post(gw.url, k, digits_split["x_test"][:4])
    assert ok.status_code == 200
    noise = np.random.default_rng(0).uniform(0, 1, (2, 64))
    bad = _post(gw.url, k, noise)
    assert bad.status_code == 422 and bad.json() == {"error": "input rejected"}
    assert "score" not in bad.text and "ood" not in bad.text
    gw.stop()
    code, out, _ = run_cli(capsys, "monitor", "log", "digits", "--since", "1h",
                           "--format", "json", "--workspace", str(ws.root))
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2
    assert {"request_id", "confidence", "ood", "ood_score", "latency_ms"} <= set(rows[0])
    assert rows[0]["ood"] is False and rows[0]["status"] == 200
    assert rows[1]["ood"] is True and rows[1]["status"] == 422 and rows[1]["ood_score"] >= 1
    assert rows[0]["client"] != "alice" and len(rows[0]["client"]) == 24  # hashed
    code, out, _ = run_cli(capsys, "monitor", "log", "digits", "--ood", "--client", "alice",
                           "--format", "json", "--workspace", str(ws.root))
    assert [r["request_id"] for r in json.loads(out)] == [rows[1]["request_id"]]
    code, out, _ = run_cli(capsys, "monitor", "status", "digits", "--record",
                           "--format", "json", "--workspace", str(ws.root))
    status = json.loads(out)
    assert code == 0 and status["predictions"] == 2 and status["ood"] == 1
    assert status["ood_rate"].startswith("not estimable")
    assert status["top_refused"][0]["refused"] == 1 and "entry" in status
    code, out, _ = run_cli(capsys, "monitor", "status", "digits", "--workspace", str(ws.root))
    assert "OOD: 1" in out and "predictions: 2" in out


def test_throttle_and_alerts_cli(ws: Workspace, version: ModelVersion, baseline: Any,
                                 serve_mon: Callable[..., Any], key: Callable[..., str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    k = key("mallory", budget="100000/day", rate="10000/minute")
    gw = serve_mon(monitoring={"probing_action": "throttle", "throttle_s": 30})
    noise = np.random.default_rng(2).uniform(0, 1, (32, 64))
    codes = []
    for _ in range(3):  # the consumer thread judges each request after its response
        codes.append(_post(gw.url, k, noise).status_code)
        gw.app.monitor.drain()
    assert codes[0] == 200 and codes[-1] == 429
    last = _post(gw.url, k, noise)
    assert last.status_code == 429 and int(last.headers["retry-after"]) <= 30
    gw.app.monitor.drain()
    metrics = gw.app.metrics.render().decode()
    assert 'cpmap_monitor_alerts_total{kind="ood-probing"} 1.0' in metrics
    code, out, _ = run_cli(capsys, "monitor", "alerts", "--format", "json",
                           "--workspace", str(ws.root))
    found = [a for a in json.loads(out) if a["alert"] == "ood-probing"]
    assert code == 0 and found and found[0]["atlas"] == "AML.T0015"
    assert found[0]["action"] == "throttle" and found[0]["model"] == "digits@1"
    assert isinstance(found[0]["entry"], int)


def test_abstain_floor_adds_an_abstain_output(ws: Workspace, version: ModelVersion,
                                              baseline: Any, serve_mon: Callable[..., Any],
                                              key: Callable[..., str],
                                              digits_split: dict[str, Any]) -> None:
    k = key("bob", budget="100000/day", rate="10000/minute", output="full")
    gw = serve_mon(monitoring={"abstain_floor": 0.999, "policy": "log"})
    r = _post(gw.url, k, digits_split["x_test"][:16])
    by = {o["name"]: o for o in r.json()["outputs"]}
    probs = np.asarray(by["probabilities"]["data"]).reshape(16, 10)
    assert by["abstain"]["data"] == (probs.max(axis=1) < 0.999).tolist()


def test_a_baseline_about_another_version_is_refused(
        ws: Workspace, version: ModelVersion, baseline: Any, serve_mon: Callable[..., Any],
        tmp_path: Path, model_bytes: bytes) -> None:
    from tests.gateway.conftest import register_gated

    from cpmap.errors import Error

    register_gated(ws, tmp_path, model_bytes, name="other", checked=False)
    with pytest.raises(Error, match="not the version served"):
        serve_mon("other@1", monitoring={"baseline": str(baseline.entry)})
    with pytest.raises(Error, match="no baseline is about this version"):
        serve_mon("other@1", monitoring={"enabled": "on"})


def test_bad_cli_input_is_one_line(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "monitor", "log", "digits", "--since", "5x",
                           "--workspace", str(ws.root))
    assert code == 2 and "--since '5x'" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "monitor", "baseline", "nosuch@1",
                           "--workspace", str(ws.root))
    assert code == 2 and "Traceback" not in err
