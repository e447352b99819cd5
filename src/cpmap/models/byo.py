"""The user's own model, as cpmap's :class:`Model`: rows decoded through its feature schema.

Attacks and checks work on cpmap rows (see :mod:`cpmap.models.schema`); these adapters turn
each row back into the model's own input before calling it, so that cpmap's clean accuracy is
the model's accuracy on the same rows. A torch model stays differentiable (the decoding of
numbers is affine), so it still gets white-box attacks; anything else is a black box.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cpmap.errors import InputError
from cpmap.models.adapters import as_rows
from cpmap.models.schema import model_width, width


def affine(schema: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with ``model_input = a * row + b`` for an array-fed model."""
    a: list[float] = []
    b: list[float] = []
    for c in schema["columns"]:
        if c["kind"] != "numeric":
            a += [1.0] * len(c["categories"])
            b += [0.0] * len(c["categories"])
            continue
        span = (c["max"] - c["min"]) or 1.0
        scale, center = float(c.get("scale", 1.0)) or 1.0, float(c.get("center", 0.0))
        a.append(span / scale)
        b.append((c["min"] - center) / scale)
    return np.asarray(a, np.float64), np.asarray(b, np.float64)


def to_frame(rows: np.ndarray, schema: Mapping[str, Any]) -> Any:
    """Raw columns as a DataFrame: numbers unscaled, each category its most likely value."""
    import pandas as pd

    out: dict[str, Any] = {}
    i = 0
    for c in schema["columns"]:
        if c["kind"] == "numeric":
            span = (c["max"] - c["min"]) or 1.0
            out[c["name"]] = c["min"] + rows[:, i].astype(np.float64) * span
            i += 1
        else:
            k = len(c["categories"])
            cats = np.asarray(c["categories"], dtype=object)
            out[c["name"]] = cats[rows[:, i:i + k].argmax(axis=1)]
            i += k
    return pd.DataFrame(out, columns=[c["name"] for c in schema["columns"]])


@dataclass
class SchemaModel:
    """A black-box user model (scikit-learn estimator or pipeline, ONNX, trusted pickle)."""

    inner: Any  # an estimator with predict_proba, or a cpmap Model (ONNX)
    schema: Mapping[str, Any]
    n_classes: int
    kind: str = "sklearn"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (width(self.schema),)

    def model_input(self, rows: np.ndarray) -> Any:
        if self.schema.get("input") == "frame":
            return to_frame(rows, self.schema)
        a, b = affine(self.schema)
        return (rows * a + b).astype(np.float32)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        rows = as_rows(x, self.input_shape[0])
        if len(rows) == 0:
            return np.zeros((0, self.n_classes), np.float32)
        if self.schema.get("input") == "frame" and np.asarray(x).dtype == np.float64:
            # float64 rows (the gateway's named columns) decode to the client's exact values;
            # through float32 an income of 52341.27 would come back 0.003 off a split
            rows = np.asarray(x, np.float64).reshape(rows.shape)
        with warnings.catch_warnings():  # feature-name and version chatter, once per batch
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            out = self.inner.predict_proba(self.model_input(rows))
        return np.asarray(out, np.float32)


def sklearn_model(estimator: Any, schema: Mapping[str, Any], meta: dict[str, Any],
                  where: str) -> SchemaModel:
    if not hasattr(estimator, "predict_proba"):
        raise InputError(f"{where}: {type(estimator).__name__} has no predict_proba")
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and int(n_in) != model_width(schema):
        raise InputError(f"{where}: the model takes {n_in} features, the schema gives "
                         f"{model_width(schema)}", hint="name the features with --schema")
    return SchemaModel(estimator, schema, len(estimator.classes_), "sklearn", meta)


class SchemaTorchModel:
    """A user torch network behind the schema's affine decoding: still white-box."""

    kind = "torch"

    def __init__(self, inner: Any, schema: Mapping[str, Any], meta: dict[str, Any]) -> None:
        import torch

        a, b = affine(schema)
        self.inner, self.schema, self.meta = inner, schema, meta
        self._a = torch.from_numpy(a.astype(np.float32))
        self._b = torch.from_numpy(b.astype(np.float32))

    @property
    def module(self) -> Any:
        return self.inner.module

    @property
    def n_classes(self) -> int:
        return int(self.inner.n_classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (width(self.schema),)

    def logits(self, x: Any) -> Any:
        return self.inner.logits(x * self._a + self._b)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        rows = as_rows(x, self.input_shape[0])
        with torch.no_grad():
            out = torch.softmax(self.logits(torch.from_numpy(rows)), dim=1)
        return np.asarray(out.numpy(), np.float32)


def load_byo(data: bytes, where: str, byo: Mapping[str, Any], *, ws: Any = None,
             suffix: str = "") -> Any:
    """Load a registered user model's bytes and put its feature schema in front of it."""
    import json

    from cpmap.models.adapters import SklearnModel, TorchModel
    from cpmap.models.persist import load_bytes

    schema = byo["schema"]
    meta = {"preprocess": dict(schema), "classes": list(byo.get("classes") or [])}
    arch = byo.get("arch")
    inner = load_bytes(data, where, suffix=suffix, ws=ws,
                       trusted_types=byo.get("trusted_types") or (),
                       spec_json=json.dumps(arch) if arch else None, meta=meta)
    if isinstance(inner, TorchModel):
        if inner.spec.input_dim != width(schema):
            raise InputError(f"{where}: the network takes {inner.spec.input_dim} features, "
                             f"the schema gives {width(schema)}")
        return SchemaTorchModel(inner, schema, meta)
    if isinstance(inner, SklearnModel):
        return sklearn_model(inner.estimator, schema, meta, where)
    return SchemaModel(inner, {**schema, "input": "array"}, inner.n_classes, inner.kind, meta)
