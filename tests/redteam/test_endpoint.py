"""A campaign through an HTTP endpoint: black box, findings filed against the served model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cpmap.core.workspace import init
from cpmap.redteam.plan import from_dict
from cpmap.redteam.service import run_campaign

PLAN = {"fuzzing": {"examples": 4, "probes": ["nan", "out_of_range", "image_bytes"]},
        "evasion": {"samples": 6, "square_iters": 10, "black_box": ["square"]},
        "extraction": {"budgets": [30], "outputs": ["label"]},
        "membership": {"reference_models": 1, "attacks": ["loss"]},
        "inversion": {"steps": 2}}


def _model(root: Path) -> tuple[Any, str, Any]:
    import torch

    from cpmap.models.adapters import TorchModel
    from cpmap.models.archs import ArchSpec, build
    from cpmap.models.datasets import load_dataset
    from cpmap.models.store import save_model
    from cpmap.redteam.shadow import MLPConfig, fit_full_batch

    ws = init(root)
    ds = load_dataset("builtin:digits", ws)
    train, _ = ds.split(0.5, 0)
    spec = ArchSpec("mlp", 64, 10, (16,))
    torch.manual_seed(0)
    model = TorchModel(fit_full_batch(build(spec), train.x, train.y, 0, MLPConfig(16, 30)),
                       spec, meta=ds.meta())
    record = {"datasets": [{"digest": ds.digest, "split": {"test_size": 0.5, "seed": 0}}]}
    return ws, save_model(ws, "served", model, record).digest, model


def test_campaign_through_an_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, digest, model = _model(tmp_path / "proj")
    seen_keys: set[str] = set()

    def serve(request: httpx.Request) -> httpx.Response:
        seen_keys.add(request.headers.get("authorization", ""))
        try:
            rows = np.asarray(json.loads(request.content)["inputs"], dtype=np.float32)
        except (ValueError, KeyError, TypeError):
            return httpx.Response(422, json={"error": "invalid request"})
        if rows.ndim != 2 or rows.shape[1] != 64 or not np.isfinite(rows).all():
            return httpx.Response(422, json={"error": "invalid input"})
        return httpx.Response(200, json={"probabilities": model.predict_proba(rows).tolist()})

    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda *a, **k: real(
        *a, transport=httpx.MockTransport(serve), **k))
    monkeypatch.setenv("SERVED_KEY", "k-123")
    result = run_campaign(ws, "served", "builtin:digits", plan=from_dict(PLAN),
                          endpoint="http://127.0.0.1:9/predict", api_key_env="SERVED_KEY")
    assert seen_keys == {"Bearer k-123"}
    assert result.digest == digest  # filed against the served workspace model
    m = result.metrics
    assert "pgd" in m["evasion"]["skipped"] and m["evasion"]["attacks"][0]["queries"] > 0
    assert m["inversion"]["method"] == "nes"
    assert m["fuzzing"]["outcomes"] == {"nan": "rejected", "out_of_range": "accepted-invalid",
                                        "image_bytes": "rejected"}
    assert m["membership"]["auc"] is not None
    assert "k-123" not in json.dumps(result.to_json())


@pytest.mark.parametrize(("url", "message"), [
    ("notaurl", "expected an http:// or https:// URL"),
    ("file:///etc/passwd", "expected an http:// or https:// URL"),
    ("http://[::1", "not a valid URL"),
    ("http://user:s3cret@127.0.0.1:9/predict", "credentials in the URL are refused"),
])
def test_bad_endpoint_urls_are_refused(tmp_path: Path, url: str, message: str) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.errors import InputError

    ws, _digest, _model_ = _model(tmp_path / "proj")
    before = len(list(Ledger(ws).entries()))
    with pytest.raises(InputError, match=message) as e:
        run_campaign(ws, "served", "builtin:digits", plan=from_dict(PLAN), endpoint=url)
    assert "s3cret" not in str(e.value)
    assert len(list(Ledger(ws).entries())) == before


def test_unreachable_endpoint_is_bad_input_not_a_finding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.errors import InputError

    ws, _digest, _model_ = _model(tmp_path / "proj")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda *a, **k: real(
        *a, transport=httpx.MockTransport(refuse), **k))
    fuzz_only = {**{s: {"enabled": False} for s in PLAN}, "fuzzing": PLAN["fuzzing"]}
    with pytest.raises(InputError, match="request failed"):
        run_campaign(ws, "served", "builtin:digits", plan=from_dict(fuzz_only),
                     endpoint="http://127.0.0.1:9/predict")
    assert not list(Ledger(ws).entries(control="CP5"))
