"""CP9 through the real gateway: sampled inputs (PII-redacted) in the prediction log, drift of
the logged inputs against the training data (`cpmap monitor drift --from-log`), and the stream
detectors raising signed CP9 alerts from the log writer's thread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.gateway.conftest import register_gated, run_cli
from tests.gateway.test_gw_table import credit  # noqa: F401 - the fixture

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits in a seeded random order (the file is ordered by writer: slices differ)."""
    from cpmap.builtin import digits

    x, y = digits()
    order = np.random.default_rng(5).permutation(len(y))
    return x[order], y[order]


@pytest.fixture
def served(ws: Workspace, tmp_path: Path, model_bytes: bytes) -> Any:
    """digits@1 gated, its lineage a CSV of 600 digit rows (columns x0..x63, y)."""
    x, y = _digits()
    train = tmp_path / "digits-train.csv"
    header = ",".join([*(f"x{i}" for i in range(64)), "y"])
    np.savetxt(train, np.column_stack([x[:600], y[:600]]), delimiter=",", header=header,
               comments="", fmt="%.6g")
    return register_gated(ws, tmp_path, model_bytes, train=train)


def _send(url: str, key: str, x: np.ndarray, per: int = 10) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
        for lo in range(0, len(x), per):
            part = x[lo:lo + per]
            r = c.post("/v2/models/digits/infer", json={"inputs": [
                {"name": "input", "datatype": "FP32", "shape": list(part.shape),
                 "data": part.ravel().tolist()}]})
            assert r.status_code == 200, r.text


def _logged(ws: Workspace) -> list[dict[str, Any]]:
    from cpmap.drift.logwindow import entries

    return entries(ws, "digits")


def _key(ws: Workspace) -> str:
    from cpmap.gateway.keys import create

    return create(ws, "alice", ["infer:digits"], rate="100000/hour",
                  budget="100000000/day")[0]


def test_inputs_are_not_kept_by_default(ws: Workspace, served: Any, serve: Any) -> None:
    key = _key(ws)  # before the gateway loads its keys
    g = serve(predlog_batch=8)
    _send(g.url, key, _digits()[0][600:640])
    g.stop()
    logged = _logged(ws)
    assert len(logged) == 4 and not any("features" in e or "inputs" in e for e in logged)
    assert not any(k.startswith("_") for e in logged for k in e)


def test_a_keyed_share_of_requests_is_kept(ws: Workspace, served: Any, serve: Any) -> None:
    ws.config["monitoring"] = {"sample_inputs": 0.5}
    key = _key(ws)
    g = serve(predlog_batch=16)
    _send(g.url, key, _digits()[0][600:1400], per=4)  # 200 requests
    g.stop()
    sampler = g.app.cp9[0]
    logged = _logged(ws)
    kept = [e for e in logged if e.get("sampled")]
    assert 60 <= len(kept) <= 140 and sampler.kept == len(kept)  # about half, keyed
    assert all(sampler.chosen(e["id"]) == bool(e.get("sampled")) for e in logged)
    assert all(len(e["features"]) == 4 and len(e["features"][0]) == 64 for e in kept)
    assert not any("features" in e for e in logged if not e.get("sampled"))


def test_logged_inputs_drift_against_the_training_data(
        ws: Workspace, served: Any, serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws.config["monitoring"] = {"sample_inputs": 1.0}  # every request: a deterministic test
    ws.config["drift"] = {"stream": False}
    x = _digits()[0]
    key = _key(ws)
    g = serve(predlog_batch=16)
    _send(g.url, key, x[600:1400], per=4)  # 200 requests of clean digits
    g.stop()
    args = ["monitor", "drift", "--from-log", "digits", "--since", "24h", "-f", "json", "-w",
            str(ws.root)]
    code, out, err = run_cli(capsys, *args)
    assert out, err
    clean = json.loads(out)
    names = {f["name"] for f in clean["features"]}
    assert {"x10", "x20", "x43"} <= names  # the inputs themselves, not only the outputs
    assert clean["reference"]["name"] == "digits-train@1"
    assert "800 of 800 rows with sampled inputs" in clean["current"]["name"]
    assert code == 0 and not clean["drift"], [f for f in clean["features"] if f["drift"]]
    g = serve(predlog_batch=16)
    _send(g.url, key, x[600:1400] * 0.5, per=4)  # a dimmer camera
    g.stop()
    code, out, _ = run_cli(capsys, *args)
    shifted = json.loads(out)
    assert code == 1 and shifted["drift"]
    assert any(f["drift"] and f["name"].startswith("x") for f in shifted["features"])


def test_sampled_cells_pass_the_cp2_redaction_first(ws: Workspace) -> None:
    from cpmap.drift.sampling import PRIVATE_KEY, InputSampler
    from cpmap.gateway.table import from_schema

    table = from_schema({"columns": [
        {"name": "amount", "kind": "numeric", "min": 0, "max": 10, "integer": False},
        {"name": "contact", "kind": "categorical",
         "categories": ["alice@example.com", "none"]}]}, 0.0)
    s = InputSampler(1.0, b"k" * 32, table)
    entries = [{"id": "r1", PRIVATE_KEY: np.array([[0.25, 1.0, 0.0], [0.5, 0.0, 1.0]])}]
    s.prepare(entries)
    assert entries[0]["inputs"] == {"amount": [2.5, 5.0],
                                    "contact": [entries[0]["inputs"]["contact"][0], "none"]}
    assert "alice@example.com" not in json.dumps(entries) and PRIVATE_KEY not in entries[0]
    arrays = InputSampler(1.0, b"k" * 32)
    card = [{"id": "r2", PRIVATE_KEY: np.array([[4111111111111111.0, 0.5, 3.0]])}]
    arrays.prepare(card)
    assert card[0]["features"] == [[None, 0.5, 3.0]] and arrays.redacted == 1
    assert not InputSampler(0.0, b"k" * 32).chosen("r1")


def test_stream_detectors_raise_a_signed_cp9_alert_off_the_request_path(
        ws: Workspace, served: Any, serve: Any) -> None:
    x = _digits()[0]
    ws.config["drift"] = {"stream_cooldown_s": 0.0}
    key = _key(ws)
    g = serve(predlog_batch=32)
    _send(g.url, key, x[600:800], per=2)  # 100 clean requests
    _send(g.url, key, x[800:1000] * 0.3, per=2)  # then 100 much darker ones
    g.stop()
    stream = g.app.cp9[1]
    assert stream.entries, "no stream alarm"
    ev = Ledger(ws).get(stream.entries[0]).predicate
    assert ev["verdict"] == "fail" and ev["details"]["source"] == "stream"
    first = min(a.seen for a in stream.monitor.alarms)
    assert first > 100  # nothing fired on the clean traffic
    tags = {t for f in ev["findings"] for t in f.get("tags", [])}
    assert any("AML.T0031" in str(t) for t in tags), ev["findings"][0]


def test_a_table_model_logs_its_named_columns_and_they_drift_per_column(
        credit: Any, serve: Any, key: Any,  # noqa: F811 - the imported fixture
        capsys: pytest.CaptureFixture[str]) -> None:
    from tests.gateway.test_gw_table import _table, columns

    ws, _pipe, _ = credit
    ws.config["monitoring"] = {"sample_inputs": 1.0}
    ws.config["drift"] = {"stream": False}
    h = {"Authorization": "Bearer " + key(scopes=("infer:credit",), budget="100000/day",
                                          rate="100000/hour")}
    gw = serve("credit@1")
    traffic = _table(200, 3)
    traffic["income"] = (traffic["income"] * 1.8).clip(upper=traffic["income"].max())
    with httpx.Client(base_url=gw.url, headers=h) as c:
        for lo in range(0, 200, 20):
            r = c.post("/v2/models/credit/infer", json=columns(traffic.iloc[lo:lo + 20]))
            assert r.status_code == 200, r.text
    gw.stop()
    logged = _logged_of(ws, "credit")
    first = logged[0]["inputs"]
    assert set(first) == {"age", "income", "debt_ratio", "region"}
    assert first["region"] == traffic["region"].iloc[:20].tolist()
    assert first["age"] == traffic["age"].iloc[:20].tolist()  # decoded back, whole numbers
    code, out, err = run_cli(capsys, "monitor", "drift", "--from-log", "credit", "-f", "json",
                             "-w", str(ws.root))
    assert out, err
    doc = json.loads(out)
    drifted = {f["name"] for f in doc["features"] if f["drift"]}
    assert code == 1 and "income" in drifted and "region" not in drifted


def _logged_of(ws: Workspace, name: str) -> list[dict[str, Any]]:
    from cpmap.drift.logwindow import entries

    return entries(ws, name)


def test_sampled_rows_become_review_items_with_their_inputs(
        ws: Workspace, served: Any, serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """CP10's third data source: the rows the gateway sampled (CP2-redacted) and CP8 or the
    confidence floor flagged become review items showing the input, queued once each."""
    from cpmap.review import queue

    ws.config["monitoring"] = {"sample_inputs": 1.0}
    ws.config["drift"] = {"stream": False}
    ws.config["review"] = {"confidence_floor": 1.01}  # every answered row counts as flagged
    x = _digits()[0][600:606]
    key = _key(ws)
    g = serve(predlog_batch=2)
    _send(g.url, key, x, per=2)  # 3 requests of 2 rows
    g.stop()
    args = ["review", "queue", "digits", "--shape", "8x8", "-f", "json", "-w", str(ws.root)]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["queued"] == 6
    assert json.loads(run_cli(capsys, *args)[1])["queued"] == 0  # each row once
    item = queue.claim(ws, "alice")
    assert item is not None and item.input_kind == "image" and "low confidence" in item.flags
    assert item.prediction.isdigit() and item.confidence is not None
    sent = [np.asarray(r, dtype=np.float32) for r in x]
    assert any(np.allclose(np.asarray(item.input, dtype=np.float32), r) for r in sent)
