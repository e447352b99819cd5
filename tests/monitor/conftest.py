"""A digits model whose lineage holds its real training rows, so that a baseline can be built
from the lineage; gateways serving it with monitoring on. Reuses the gateway test kit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.gateway.conftest import key, model_bytes, register_gated, run_cli  # noqa: F401

from cpmap.core.workspace import Workspace
from cpmap.registry.manifest import ModelVersion

LINEAGE_ROWS = 1500
SPLIT = {"test_size": 0.2, "seed": 0}  # the training record's hold-out


@pytest.fixture(scope="session")
def digits_split() -> dict[str, Any]:
    """Lineage rows (the model trains on their split's train part), and test rows outside."""
    from cpmap.builtin import digits
    from cpmap.models.datasets import Dataset

    x, y = digits()
    order = np.random.default_rng(7).permutation(len(x))
    lin, te = order[:LINEAGE_ROWS], order[LINEAGE_ROWS:]
    ds = Dataset("digits", "0" * 64, x[lin], y[lin], tuple(str(i) for i in range(10)),
                 image_shape=(1, 8, 8))
    train, _ = ds.split(SPLIT["test_size"], SPLIT["seed"])
    return {"x": x[lin], "y": y[lin], "train": train, "x_test": x[te], "y_test": y[te]}


@pytest.fixture(scope="session")
def monitored_bytes(digits_split: dict[str, Any]) -> bytes:
    import torch

    from cpmap.models.persist import model_bytes as to_bytes
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    model = train(digits_split["train"], TrainConfig(arch="mlp", hidden=(64,), epochs=20,
                                                     lr=5e-3)).model
    return to_bytes(model)[0]


@pytest.fixture
def version(ws: Workspace, tmp_path: Path, monitored_bytes: bytes,
            digits_split: dict[str, Any]) -> ModelVersion:
    """``digits@1``, gated; its lineage names the 1,500 rows it was trained and held out on."""
    from cpmap.provenance.fingerprint import fingerprint

    npz = tmp_path / "digits-train.npz"
    np.savez(npz, x=digits_split["x"], y=digits_split["y"])
    record = {"datasets": [{"digest": fingerprint(npz).digest, "role": "train",
                            "split": SPLIT}]}
    return register_gated(ws, tmp_path, monitored_bytes, train=npz, training=record)


@pytest.fixture
def baseline(ws: Workspace, version: ModelVersion) -> Any:
    from cpmap.monitor.baseline import build

    return build(ws, version.ref)[0]


@pytest.fixture
def serve_mon(ws: Workspace) -> Iterator[Callable[..., Any]]:
    """Start monitored gateways on free 127.0.0.1 ports; stopped after the test."""
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load

    running: list[Any] = []

    def start(ref: str = "digits@1", monitoring: dict[str, Any] | None = None,
              **cfg: Any) -> Any:
        ws.config["monitoring"] = dict(monitoring or {})
        handle = run_in_thread(build(ws, ref, load(ws, env={}, **cfg)))
        running.append(handle)
        return handle

    yield start
    for h in running:
        h.stop()


def oip(x: np.ndarray) -> dict[str, Any]:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                        "data": x.ravel().tolist()}]}
