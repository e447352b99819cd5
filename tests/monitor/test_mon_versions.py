"""A promoted (reloaded) version is monitored with its own baseline, not left unscored, and
its rows and alerts name it; the alert worker's stop does not leave a drain waiting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from cpmap.core.workspace import Workspace
from cpmap.registry.manifest import ModelVersion

from .conftest import oip, register_gated


def _second(ws: Workspace, tmp_path: Path, digits_split: dict[str, Any]) -> ModelVersion:
    """``digits@2``: another network on the same lineage rows, with its own baseline."""
    import torch

    from cpmap.models.persist import model_bytes
    from cpmap.monitor.baseline import build
    from cpmap.provenance.fingerprint import fingerprint
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    model = train(digits_split["train"], TrainConfig(arch="mlp", hidden=(32,), epochs=10,
                                                     lr=5e-3, seed=1)).model
    npz = tmp_path / "digits-train-2.npz"
    np.savez(npz, x=digits_split["x"], y=digits_split["y"])
    record = {"datasets": [{"digest": fingerprint(npz).digest, "role": "train",
                            "split": {"test_size": 0.2, "seed": 0}}]}
    mv = register_gated(ws, tmp_path, model_bytes(model)[0], train=npz, training=record)
    build(ws, mv.ref)
    return mv


def test_reload_to_a_promoted_version_scores_with_its_baseline(
        ws: Workspace, tmp_path: Path, version: ModelVersion, baseline: Any,
        serve_mon: Callable[..., Any], key: Callable[..., str],
        digits_split: dict[str, Any]) -> None:
    from cpmap.monitor.baseline import current
    from cpmap.monitor.predlog import query
    from cpmap.registry.stages import set_alias

    set_alias(ws, version.ref, "live")
    k = key("bob", budget="100000/day", rate="10000/minute")
    gw = serve_mon("digits@live", monitoring={"policy": "flag", "probing_action": "alert"},
                   predlog_batch=1, predlog_interval_s=0.1)
    newer = _second(ws, tmp_path, digits_split)
    set_alias(ws, newer.ref, "live")  # promoted: the alias served moves
    assert gw.app.reload().digest == newer.digest
    url = f"{gw.url}/v2/models/digits/infer"
    natural = digits_split["x_test"][:16]
    noise = np.random.default_rng(3).uniform(0, 1, (4, 64))
    for x in (natural, noise):
        r = httpx.post(url, json=oip(x), headers={"Authorization": f"Bearer {k}"}, timeout=10)
        assert r.status_code == 200 and r.json()["model_version"] == str(newer.version)
    mon = gw.app.monitor
    own = current(ws, newer.digest)
    assert own is not None and mon._version(newer.digest).base.entry == own.entry
    assert mon._version(newer.digest).base.entry != baseline.entry
    gw.stop()
    rows = query(ws, newer.ref)
    assert len(rows) == 2 and {r["model_digest"] for r in rows} == {newer.digest}
    first, second = sorted(rows, key=lambda r: r["ts"])
    assert first["ood_score"] is not None and second["ood"] is True  # scored, noise flagged
    assert query(ws, version.ref) == []


def test_drain_after_close_does_not_wait(ws: Workspace, version: ModelVersion) -> None:
    from cpmap.monitor.alerts import Alert, AlertSink

    sink = AlertSink(ws, None, cooldown_s=0)
    assert sink.raise_(Alert("ood-rate", version.ref, version.digest, "test alert", None,
                             "last 1 rows"))
    sink.close()
    assert sink._q.unfinished_tasks == 0 and len(sink.entries) == 1
