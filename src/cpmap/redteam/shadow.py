"""Small models the attacker trains: membership reference models and extraction surrogates.

An attacker rarely knows the target's exact architecture; a small MLP trained full-batch with
Adam is a strong, fast default on tabular and small-image data (a fraction of a second on the
digits). When the model layer can rebuild the target's own architecture, campaigns pass that
trainer instead (see :data:`Trainer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cpmap.redteam.target import PredictFn

if TYPE_CHECKING:
    from torch import nn

# (x, y, seed) -> predict_proba of a model trained on (x, y).
Trainer = Callable[[np.ndarray, np.ndarray, int], PredictFn]


@dataclass(frozen=True)
class MLPConfig:
    hidden: int = 128
    epochs: int = 300
    lr: float = 1e-2
    weight_decay: float = 0.0


class TorchClassifier:
    """A trained torch module with a numpy ``predict_proba``."""

    def __init__(self, module: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.module = module.eval()
        self.input_shape = input_shape

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            t = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(-1, *self.input_shape))
            return torch.softmax(self.module(t).double(), dim=1).numpy()


def mlp(n_features: int, n_classes: int, hidden: int) -> nn.Module:
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(n_features, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_classes))


def fit_full_batch(model: nn.Module, x: np.ndarray, targets: np.ndarray, seed: int,
                   config: MLPConfig = MLPConfig()) -> nn.Module:
    """Train ``model`` full-batch with Adam; ``targets`` are labels or soft labels [n, k]."""
    import torch
    from torch import nn
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # seeded init that does not touch the global RNG
            if p.ndim > 1:
                bound = 1.0 / np.sqrt(p.shape[1])
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
            else:
                p.zero_()
    xs = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    soft = np.asarray(targets).ndim == 2
    ys = torch.as_tensor(np.asarray(targets, dtype=np.float32 if soft else np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    for _ in range(config.epochs):
        opt.zero_grad()
        logits = model(xs)
        if soft:
            loss = -(ys * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        else:
            loss = nn.functional.cross_entropy(logits, ys)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()


def train_mlp(x: np.ndarray, targets: np.ndarray, n_classes: int, seed: int,
              config: MLPConfig = MLPConfig()) -> TorchClassifier:
    """A fresh one-hidden-layer MLP trained with :func:`fit_full_batch`."""
    d = int(np.prod(np.asarray(x).shape[1:]))
    model = fit_full_batch(mlp(d, n_classes, config.hidden), x, targets, seed, config)
    return TorchClassifier(model, (d,))


def mlp_trainer(n_classes: int, config: MLPConfig = MLPConfig()) -> Trainer:
    """A :data:`Trainer` training :func:`train_mlp` models."""

    def fit(x: np.ndarray, y: np.ndarray, seed: int) -> PredictFn:
        return train_mlp(x, y, n_classes, seed, config).predict_proba

    return fit
