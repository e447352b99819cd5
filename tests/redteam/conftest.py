"""Small seeded models and data for the red-team tests (trained in well under a second)."""

from __future__ import annotations

import numpy as np
import pytest

from cpmap.builtin import digits
from cpmap.redteam.shadow import MLPConfig, TorchClassifier, train_mlp
from cpmap.redteam.target import Target


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tiny models on a shared 2-core machine: extra intra-op threads only spin."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray]:
    return digits()


@pytest.fixture(scope="session")
def mlp(data: tuple[np.ndarray, np.ndarray]) -> TorchClassifier:
    x, y = data
    return train_mlp(x[:600], y[:600], 10, 0, MLPConfig(hidden=64, epochs=120))


@pytest.fixture
def target(mlp: TorchClassifier) -> Target:
    """White-box target over the session MLP (fresh query counter per test)."""
    return Target("digits-mlp", "ab" * 32, mlp.predict_proba, 10, (64,), (0.0, 1.0),
                  mlp.module, (8, 8))


@pytest.fixture
def black_box(mlp: TorchClassifier) -> Target:
    """The same model through queries only."""
    return Target("digits-mlp", "ab" * 32, mlp.predict_proba, 10, (64,), (0.0, 1.0), None,
                  (8, 8))
