"""Output policies per client, and the tamper-evident prediction log."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import update

from cpmap.gateway.errors import GatewayError
from cpmap.gateway.harden import OutputPolicy

from .conftest import rows

PROBS = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])


def test_policies_shape_the_outputs() -> None:
    assert OutputPolicy.parse("label").apply(PROBS) == [
        {"name": "label", "datatype": "INT64", "shape": [2], "data": [1, 0]}]
    labels, vals = OutputPolicy.parse("top-k:2").apply(PROBS)
    assert labels["data"] == [1, 2, 0, 2] and vals["data"] == [0.6, 0.3, 0.5, 0.3]
    (rounded,) = OutputPolicy.parse("rounded:0").apply(PROBS)
    assert rounded["data"] == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    (full,) = OutputPolicy.parse("full").apply(PROBS)
    assert full["shape"] == [2, 3] and full["data"][1] == 0.6


@pytest.mark.parametrize("bad", ["top-k:0", "rounded:x", "probabilities", "top-k:", ""])
def test_bad_policies(bad: str) -> None:
    with pytest.raises(GatewayError):
        OutputPolicy.parse(bad)


def test_each_client_gets_its_policy(gated: Any, serve: Any, key: Any) -> None:
    keys = {p: key(f"c{i}", output=p) for i, p in enumerate(("full", "top-k:3", "rounded:1",
                                                             "label"))}
    default = key("default")
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        def outs(k: str) -> list[dict[str, Any]]:
            r = c.post("/v2/models/digits/infer", json=rows(2), headers={"X-API-Key": k})
            assert r.status_code == 200
            return list(r.json()["outputs"])

        assert [o["name"] for o in outs(keys["full"])] == ["probabilities"]
        top = outs(keys["top-k:3"])
        assert [o["name"] for o in top] == ["top_k_labels", "top_k_probabilities"]
        assert top[0]["shape"] == [2, 3]
        assert all(round(v, 1) == v for v in outs(keys["rounded:1"])[0]["data"])
        assert outs(keys["label"])[0]["shape"] == [2]
        assert outs(default)[0]["name"] == "label"  # CP5: label kept fidelity lowest
        meta = c.get("/v2/models/digits", headers={"X-API-Key": keys["top-k:3"]}).json()
        assert [o["name"] for o in meta["outputs"]] == ["top_k_labels", "top_k_probabilities"]


def test_prediction_log_batches_verify_and_detect_tampering(ws: Any, gated: Any, serve: Any,
                                                            key: Any) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.gateway.predlog import verify_batch
    from cpmap.gateway.tables import gateway_predictions

    k = key()
    gw = serve(predlog_batch=3, predlog_interval_s=60)
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        for _ in range(3):
            c.post("/v2/models/digits/infer", json=rows(), headers={"X-API-Key": k})
        c.post("/v2/models/digits/infer", json=rows())  # a refusal is logged too
    gw.stop()
    batches = Ledger(ws).entries(kind="gateway-predictions")
    assert [b.predicate["metrics"]["entries"] for b in batches] == [3, 1]
    assert batches[1].predicate["metrics"]["refused"] == 1
    assert all(verify_batch(ws, b.index) for b in batches)
    with ws.store.write() as conn:
        conn.execute(update(gateway_predictions).where(
            gateway_predictions.c.batch == batches[0].index, gateway_predictions.c.seq == 1)
            .values(entry='{"forged":true}'))
    assert not verify_batch(ws, batches[0].index) and verify_batch(ws, batches[1].index)
