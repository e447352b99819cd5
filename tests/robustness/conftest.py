"""A small trained digits model shared by the robustness tests (seconds to train, 1 thread)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def digits() -> Any:
    from cpmap.builtin import digits as load

    x, y = load()
    return x, y


@pytest.fixture(scope="session")
def mlp(digits: Any) -> Any:
    """An MLP trained for a few epochs: ~90% clean accuracy, easy to attack."""
    from cpmap.models.datasets import Dataset
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    x, y = digits
    ds = Dataset("digits", "0" * 64, x[:1200], y[:1200], tuple(str(i) for i in range(10)),
                 image_shape=(1, 8, 8))
    return train(ds, TrainConfig(arch="mlp", hidden=(64,), epochs=8, lr=5e-3)).model


@pytest.fixture(scope="session")
def heldout(digits: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = digits
    return x[1200:1400], y[1200:1400]
