"""The contract every model satisfies, whatever framework or place it lives in.

Attacks, evaluation, red-team campaigns and the gate only need class probabilities for a numpy
batch (:class:`Model`). White-box attacks and adversarial training also need the logits as a
differentiable torch function (:class:`GradientModel`); only local PyTorch models give that.
Inputs are always flat float32 rows ``[n, d]``: an image model reshapes inside its network, so
datasets, attacks and the gateway never have to know about image layouts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch


@runtime_checkable
class Model(Protocol):
    """A classifier: probabilities over ``n_classes`` for each row of a float32 batch."""

    @property
    def n_classes(self) -> int: ...

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input row, e.g. ``(64,)``."""
        ...

    @property
    def kind(self) -> str:
        """``torch``, ``sklearn``, ``onnx``, ``remote`` or ``pickle``."""
        ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class GradientModel(Model, Protocol):
    """A model whose logits are a differentiable torch function of its inputs."""

    @property
    def module(self) -> torch.nn.Module: ...

    def logits(self, x: torch.Tensor) -> torch.Tensor: ...


def predict(model: Model, x: np.ndarray) -> np.ndarray:
    """Predicted class per row."""
    out: np.ndarray = np.asarray(model.predict_proba(x)).argmax(axis=1)
    return out


def accuracy(model: Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of rows classified correctly (0.0 for an empty batch)."""
    if len(y) == 0:
        return 0.0
    return float((predict(model, x) == y).mean())


def has_gradients(model: Model) -> bool:
    return isinstance(model, GradientModel)
