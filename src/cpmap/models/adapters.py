"""Adapters that give PyTorch modules and scikit-learn estimators the :class:`Model` contract."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cpmap.errors import InputError
from cpmap.models.archs import ArchSpec

BATCH = 1024


def as_rows(x: np.ndarray, dim: int, where: str = "input") -> np.ndarray:
    """Check and convert a batch to float32 ``[n, dim]`` (a single row is accepted)."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InputError(f"{where}: expected rows of {dim} features, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{where}: inputs contain NaN or infinite values")
    return arr


@dataclass
class TorchModel:
    """A torch module producing logits; gives probabilities and gradients."""

    net: torch.nn.Module
    spec: ArchSpec
    kind: str = "torch"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> torch.nn.Module:
        return self.net

    @property
    def n_classes(self) -> int:
        return self.spec.n_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.spec.input_dim,)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        rows = as_rows(x, self.spec.input_dim)
        was_training = self.net.training
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), BATCH):
                t = torch.from_numpy(rows[start:start + BATCH])
                out.append(torch.softmax(self.net(t), dim=1).numpy())
        self.net.train(was_training)
        if not out:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        return np.concatenate(out)


@dataclass
class SklearnModel:
    """A fitted scikit-learn classifier with ``predict_proba``; classes must be 0..k-1."""

    estimator: Any
    kind: str = "sklearn"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not hasattr(self.estimator, "predict_proba"):
            raise InputError(f"{type(self.estimator).__name__}: estimator has no predict_proba")
        if not hasattr(self.estimator, "n_features_in_"):
            raise InputError(f"{type(self.estimator).__name__}: estimator is not fitted")

    @property
    def n_classes(self) -> int:
        return len(self.estimator.classes_)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (int(self.estimator.n_features_in_),)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        rows = as_rows(x, self.input_shape[0])
        if len(rows) == 0:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        with warnings.catch_warnings():  # "X does not have valid feature names", per batch
            warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
            return np.asarray(self.estimator.predict_proba(rows), dtype=np.float32)


def scores(value: Any) -> np.ndarray:
    """An ONNX output as float32 ``[n, k]``: a tensor, or skl2onnx's ZipMap (a list of
    ``{class: probability}``, in the classes' order)."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = sorted(value[0])
        return np.asarray([[row[k] for k in keys] for row in value], dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


@dataclass
class OnnxModel:
    """An ONNX classifier run by onnxruntime (optional); outputs logits or probabilities."""

    session: Any
    n_classes: int
    input_shape: tuple[int, ...]
    outputs_logits: bool = True
    kind: str = "onnx"
    output: int = 0  # which output holds the scores (skl2onnx puts the label first)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        rows = as_rows(x, self.input_shape[0])
        name = self.session.get_inputs()[0].name
        out = scores(self.session.run(None, {name: rows})[self.output])
        if self.outputs_logits:
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        return out
