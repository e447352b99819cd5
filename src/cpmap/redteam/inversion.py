"""Model inversion: reconstruct what a class looks like from the model alone (MIFace-style).

Fredrikson et al. (2015) gradient descent on ``1 - p_c(x)`` from a neutral start, kept inside
the input bounds. With white-box access the gradient comes from torch; through queries only it
is estimated with antithetic Gaussian sampling (NES), and every query is counted.

How much leaked is measured against the class means of data the attacker does not see: the
cosine similarity between a reconstruction and its class mean, both centred on the overall
mean (raw images all look alike: mostly background), and the identification rate, the share
of classes whose reconstruction is closer to its own class mean than to any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.redteam.target import Target


@dataclass(frozen=True)
class InversionResult:
    reconstructions: np.ndarray  # [k, d]
    class_means: np.ndarray  # [k, d]
    similarity: np.ndarray  # [k] cosine to own class mean (centred)
    best_other: np.ndarray  # [k] best cosine to another class mean
    confidence: np.ndarray  # [k] target's p_c on its reconstruction
    queries: int
    method: str

    @property
    def identification_rate(self) -> float:
        return float((self.similarity > self.best_other).mean()) if len(self.similarity) else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "classes": len(self.similarity),
                "mean_similarity": round(float(self.similarity.mean()), 4),
                "mean_other_similarity": round(float(self.best_other.mean()), 4),
                "identification_rate": round(self.identification_rate, 4),
                "mean_confidence": round(float(self.confidence.mean()), 4),
                "queries": self.queries}


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    return np.asarray((a * b).sum(axis=-1) / np.maximum(na * nb, 1e-12))


def _torch_grad(target: Target, x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gradient of 1 - p_c, p_c) for each row, from the torch module."""
    import torch

    module = target.logits_module()
    t = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    probs = torch.softmax(module(t), dim=1)
    pc = probs[torch.arange(len(c)), torch.as_tensor(c)]
    (grad,) = torch.autograd.grad((1 - pc).sum(), t)
    target.queries += len(x)
    return grad.numpy().astype(np.float64), pc.detach().numpy().astype(np.float64)


def _nes_grad(target: Target, x: np.ndarray, c: np.ndarray, samples: int, sigma: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """NES estimate of the gradient of 1 - p_c with ``2 * samples`` queries per row."""
    k, d = x.shape
    u = rng.standard_normal((k, samples, d))
    batch = np.concatenate([x[:, None] + sigma * u, x[:, None] - sigma * u], axis=1)
    probs = target.query(batch.reshape(-1, d)).reshape(k, 2 * samples, -1)
    loss = 1.0 - probs[np.arange(k), :, c]  # [k, 2s]
    diff = loss[:, :samples] - loss[:, samples:]
    grad = (diff[:, :, None] * u).mean(axis=1) / (2 * sigma)
    pc = target.query(x)[np.arange(k), c]
    return grad, pc


def invert(target: Target, reference: tuple[np.ndarray, np.ndarray], steps: int = 60,
           lr: float = 0.1, l2: float = 0.01, nes_samples: int = 20, seed: int = 0,
           classes: list[int] | None = None) -> InversionResult:
    """Reconstruct one representative per class; compare with ``reference`` class means.

    The start is the overall mean of ``reference`` (an attacker's domain knowledge, no
    individual record); ``l2`` pulls back towards it so that the result stays image-like
    rather than an adversarial pattern.
    """
    x_ref, y_ref = reference
    ks = classes if classes is not None else sorted(int(c) for c in np.unique(y_ref))
    flat = np.asarray(x_ref, dtype=np.float64).reshape(len(x_ref), -1)
    mu = flat.mean(axis=0)
    means = np.stack([flat[y_ref == c].mean(axis=0) for c in ks])
    lo, hi = target.bounds
    c = np.asarray(ks, dtype=np.int64)
    x = np.tile(mu, (len(ks), 1))
    rng = np.random.default_rng(seed)
    before = target.queries
    method = "gradient" if target.white_box else "nes"
    pc = np.zeros(len(ks))
    for _ in range(steps):
        if target.white_box:
            grad, pc = _torch_grad(target, x, c)
        else:
            grad, pc = _nes_grad(target, x, c, nes_samples, 0.05 * (hi - lo), rng)
        grad = grad + l2 * (x - mu)
        norm = np.linalg.norm(grad, axis=1, keepdims=True)
        x = np.clip(x - lr * (hi - lo) * grad / np.maximum(norm, 1e-12) * np.sqrt(x.shape[1])
                    / 8, lo, hi)
    pc = target.query(x)[np.arange(len(ks)), c]
    centred, mcen = x - mu, means - mu
    sims = _cos(centred[:, None, :], mcen[None, :, :])  # [k, k]
    own = np.diag(sims).copy()
    np.fill_diagonal(sims, -np.inf)
    return InversionResult(x, means, own, sims.max(axis=1), pc, target.queries - before, method)
