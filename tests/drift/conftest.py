"""A small registered classifier and its data, the CLI runner, for the CP9 tests.

Three Gaussian classes in 4 features, a scikit-learn logistic regression saved with skops
(a safe format), registered with its training data as ``clf@1``: small, seeded, one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CENTRES = np.array([[0, 0, 0, 0], [2, 2, 0, 0], [0, 2, 2, 0]], dtype=np.float64)


def blobs(n: int, seed: int, shares: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3),
          shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=np.asarray(shares) / sum(shares))
    x = CENTRES[y] + rng.normal(size=(n, 4))
    x[:, 3] += shift
    return x.astype(np.float32), y


def write_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savez(path, x=x, y=y.astype(np.int64))
    return path


@dataclass
class Registered:
    ws: Any
    tmp: Path
    mv: Any
    train: Path


def register_model(ws: Any, tmp: Path, name: str = "clf", seed: int = 0,
                   train: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
    """Train, save (skops) and register a version of ``name`` with its training data."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from cpmap.provenance.datasets import register_dataset
    from cpmap.registry.versions import register

    x, y = train if train is not None else blobs(600, seed)
    data = write_npz(tmp / f"{name}-train-{seed}.npz", x, y)
    dv = register_dataset(ws, f"{name}-train", data)
    model = LogisticRegression(max_iter=300).fit(x, y)
    path = tmp / f"{name}-{seed}.skops"
    sio.dump(model, path)
    return register(ws, name, path, datasets=[dv.ref]).version


@pytest.fixture
def reg(ws: Any, tmp_path: Path) -> Registered:
    mv = register_model(ws, tmp_path)
    return Registered(ws, tmp_path, mv, tmp_path / "clf-train-0.npz")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cpmap ARGS`` in-process: (exit code, stdout, stderr)."""
    from cpmap.cli import main

    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
